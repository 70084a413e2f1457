package org.groundchat.inference;

import ai.onnxruntime.OrtException;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * One {@code decoder.onnx} call per step for several sequences, each feeding one embedding (batch dimension B).
 *
 * <p>Each row owns a slice of one KV buffer per layer and kind, [B, heads, stride, head_dim];
 * {@code attention_mask} marks each row's first {@code length} columns valid, and the one new position. ONNX Runtime
 * reads the buffers in place, and a step's {@code present} holds only the new keys and values (bundle 2.1,
 * {@code "kv_cache": "buffer"}), written into each row's next column: a step copies nothing already cached. A joining
 * row's cache is copied in once; when a row leaves, the rows after it move up one place (their valid columns only).
 * The stride is the one the longest row needs ({@link KvCacheDecoder#strideFor}): it grows in steps of 64 columns, so
 * every row is laid out anew once per 64 positions, and shrinks when the longest row leaves.
 *
 * <p>Every row is laid out as a batch-1 cache ({@link KvCacheDecoder}): the same columns in the same order, the same
 * mask, so each row's result equals its batch-1 result bit for bit (masked columns weigh exactly 0). Not thread-safe:
 * the caller driving the batch owns it ({@link DecodeBatcher}).
 */
final class BatchDecoder implements AutoCloseable {
    /** A step's output rows, in row order: logits [B, V] and hidden states [B, D]. */
    record Output(float[] logits, float[] hidden) {}

    private static final class Row {
        final Object key;
        int length;

        Row(Object key, int length) {
            this.key = key;
            this.length = length;
        }
    }

    private final OnnxBundle b;
    private final BundleManifest.Dims dims;
    private final int maxRows, heads, headDim, maxSeq;
    private final List<Row> rows = new ArrayList<>();
    /** One buffer per layer and kind (layer 0 key, layer 0 value, ...), [rows, heads, stride, headDim] each. */
    private final DirectFloats[] caches;
    private int stride = KvCacheDecoder.STRIDE_STEP;
    /** Step tensors by row count, for the current stride (an entry for another stride is replaced when next used). */
    private final StepTensors[] byRows;

    BatchDecoder(OnnxBundle bundle, BundleManifest.Dims dims, int maxRows) {
        this.b = bundle;
        this.dims = dims;
        this.maxRows = maxRows;
        this.heads = dims.heads();
        this.headDim = dims.headDim();
        this.maxSeq = dims.maxSeq();
        this.byRows = new StepTensors[maxRows + 1];
        this.caches = new DirectFloats[2 * dims.layers()];
        for (int i = 0; i < caches.length; i++) caches[i] = new DirectFloats();
    }

    int size() { return rows.size(); }

    /** Columns per head in each row's slice of the buffers. */
    int stride() { return stride; }

    /** The rows' keys in row order: the order {@link #step} takes inputs and returns outputs in. */
    List<Object> keys() { return rows.stream().map(r -> r.key).toList(); }

    /** The whole buffer of one layer and kind, with room for maxRows rows of max_seq columns. */
    private FloatBuffer buffer(int slot) {
        return caches[slot].take(maxRows * heads * maxSeq * headDim);
    }

    /** Where head {@code h} of row {@code i} starts under a stride. */
    private int offset(int i, int h, int stride) {
        return (i * heads + h) * stride * headDim;
    }

    /**
     * Lays the rows out under a new stride, leaving out row {@code removed} (-1: none) and moving the rows after it
     * up one place. Every head's valid columns move towards the end when the stride grows (so the last goes first)
     * and towards the start otherwise (the first goes first): no head overwrites one not yet moved.
     */
    private void relayout(int wider, int removed) {
        int n = rows.size();
        boolean backwards = wider > stride;
        for (int slot = 0; slot < caches.length; slot++) {
            FloatBuffer buf = buffer(slot);
            for (int k = 0; k < n * heads; k++) {
                int flat = backwards ? n * heads - 1 - k : k, i = flat / heads, h = flat % heads;
                if (i == removed) continue;
                int to = offset(i > removed && removed >= 0 ? i - 1 : i, h, wider), from = offset(i, h, stride);
                if (to != from) buf.put(to, buf, from, rows.get(i).length * headDim);
            }
        }
        stride = wider;
    }

    /** The stride the rows need: room for each row's next position. */
    private int neededStride() {
        int longest = 0;
        for (Row row : rows) longest = Math.max(longest, row.length);
        return KvCacheDecoder.strideFor(longest + 1, maxSeq);
    }

    /** Adds a row after the others: copies its prefilled batch-1 cache in and closes it. */
    void join(Object key, KvCacheDecoder prefilled) {
        try {
            if (rows.size() == maxRows) throw new IllegalStateException("the batch is full");
            int i = rows.size(), length = prefilled.length();
            int wider = KvCacheDecoder.strideFor(length + 1, maxSeq);
            if (wider > stride) relayout(wider, -1);
            for (int slot = 0; slot < caches.length; slot++) {
                FloatBuffer to = buffer(slot), from = prefilled.buffer(slot);
                for (int h = 0; h < heads; h++) {
                    to.put(offset(i, h, stride), from, h * prefilled.stride() * headDim, length * headDim);
                }
            }
            rows.add(new Row(key, length));
        } finally {
            prefilled.close();
        }
    }

    /** Removes a row; the rows after it move up one place, and the stride shrinks if the longest row left. */
    void leave(Object key) {
        for (int i = 0; i < rows.size(); i++) {
            if (rows.get(i).key != key) continue;
            Row gone = rows.get(i);
            int longest = 0;
            for (Row row : rows) if (row != gone) longest = Math.max(longest, row.length);
            relayout(Math.min(stride, KvCacheDecoder.strideFor(longest + 1, maxSeq)), i);
            rows.remove(i);
            return;
        }
    }

    /** Feeds one embedding per row ([B, D] in row order) and returns the rows' logits and hidden states. */
    Output step(float[] embeds) {
        int n = rows.size();
        for (Row row : rows) {
            if (row.length >= maxSeq) throw new InferenceException("The context is full: " + maxSeq + " positions");
        }
        int wider = neededStride();
        if (wider > stride) relayout(wider, -1);
        StepTensors io = tensors(n);
        io.embeds.put(0, embeds, 0, n * dims.hidden());
        for (int i = 0; i < n; i++) io.place(i, rows.get(i).length);
        try {
            io.run();
        } catch (OrtException e) {
            throw new InferenceException("batched decoder step failed: " + e.getMessage(), e);
        }
        for (int slot = 0; slot < caches.length; slot++) {
            FloatBuffer fresh = io.presents[slot], buf = buffer(slot); // fresh: [n, heads, 1, headDim]
            for (int i = 0; i < n; i++) {
                int length = rows.get(i).length;
                for (int h = 0; h < heads; h++) {
                    buf.put(offset(i, h, stride) + length * headDim, fresh, (i * heads + h) * headDim, headDim);
                }
            }
        }
        for (Row row : rows) row.length++;
        float[] logits = new float[n * dims.vocab()], hidden = new float[n * dims.hidden()];
        io.logits.get(0, logits);
        io.hidden.get(0, hidden);
        return new Output(logits, hidden);
    }

    /** The step tensors for {@code n} rows under the current stride: kept per row count until the stride changes. */
    private StepTensors tensors(int n) {
        StepTensors io = byRows[n];
        if (io != null && io.fits(n, stride)) return io;
        if (io != null) io.close();
        int columns = stride;
        io = new StepTensors(b, dims, n, columns, slot -> buffer(slot).slice(0, offset(n, 0, columns)));
        byRows[n] = io;
        return io;
    }

    @Override
    public void close() {
        for (int n = 0; n < byRows.length; n++) {
            if (byRows[n] != null) byRows[n].close();
            byRows[n] = null;
        }
        rows.clear();
    }
}

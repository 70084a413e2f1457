package org.groundchat.inference;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxTensorLike;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One {@code decoder.onnx} call per step for several sequences, each feeding one embedding (batch dimension B).
 *
 * <p>Each row owns a fixed slice of one KV buffer per layer and kind, [B, heads, max_seq, head_dim];
 * {@code attention_mask} marks each row's first {@code length} columns valid, and the one new position. ONNX Runtime
 * reads the buffers in place, and a step's {@code present} holds only the new keys and values (bundle contract 3),
 * written into each row's next column: a step copies nothing already cached. A joining row's cache is copied in once;
 * when a row leaves, the rows after it move up one place (their valid columns only).
 *
 * <p>Every row is laid out exactly as a batch-1 cache ({@link KvCacheDecoder}): the same columns, the same mask, so
 * each row's result equals its batch-1 result bit for bit (the softmax and the products see the same columns in the
 * same order; masked columns weigh exactly 0). Not thread-safe: the caller driving the batch owns it
 * ({@link DecodeBatcher}).
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
    private final int maxRows, heads, headDim, maxSeq, rowFloats;
    private final List<Row> rows = new ArrayList<>();
    /** One buffer per layer and kind (layer 0 key, layer 0 value, ...), [maxRows, heads, maxSeq, headDim] each. */
    private final DirectFloats[] caches;

    BatchDecoder(OnnxBundle bundle, BundleManifest.Dims dims, int maxRows) {
        this.b = bundle;
        this.dims = dims;
        this.maxRows = maxRows;
        this.heads = dims.heads();
        this.headDim = dims.headDim();
        this.maxSeq = dims.maxSeq();
        this.rowFloats = heads * maxSeq * headDim;
        this.caches = new DirectFloats[2 * dims.layers()];
        for (int i = 0; i < caches.length; i++) caches[i] = new DirectFloats();
    }

    int size() { return rows.size(); }

    /** The rows' keys in row order: the order {@link #step} takes inputs and returns outputs in. */
    List<Object> keys() { return rows.stream().map(r -> r.key).toList(); }

    private FloatBuffer buffer(int slot) {
        return caches[slot].take(maxRows * rowFloats);
    }

    /** Adds a row after the others: copies its prefilled batch-1 cache in and closes it. */
    void join(Object key, KvCacheDecoder prefilled) {
        try {
            if (rows.size() == maxRows) throw new IllegalStateException("the batch is full");
            int i = rows.size(), length = prefilled.length();
            for (int slot = 0; slot < caches.length; slot++) {
                FloatBuffer to = buffer(slot), from = prefilled.buffer(slot);
                for (int h = 0; h < heads; h++) {
                    to.put(i * rowFloats + h * maxSeq * headDim, from, h * maxSeq * headDim, length * headDim);
                }
            }
            rows.add(new Row(key, length));
        } finally {
            prefilled.close();
        }
    }

    /** Removes a row; the rows after it move up one place. */
    void leave(Object key) {
        for (int i = 0; i < rows.size(); i++) {
            if (rows.get(i).key != key) continue;
            for (int j = i + 1; j < rows.size(); j++) {
                int length = rows.get(j).length;
                for (int slot = 0; slot < caches.length; slot++) {
                    FloatBuffer buf = buffer(slot);
                    for (int h = 0; h < heads; h++) {
                        int column0 = h * maxSeq * headDim;
                        buf.put((j - 1) * rowFloats + column0, buf, j * rowFloats + column0, length * headDim);
                    }
                }
            }
            rows.remove(i);
            return;
        }
    }

    /** Feeds one embedding per row ([B, D] in row order) and returns the rows' logits and hidden states. */
    Output step(float[] embeds) {
        int n = rows.size();
        List<OnnxTensor> created = new ArrayList<>();
        try {
            Map<String, OnnxTensorLike> in = new HashMap<>();
            for (int slot = 0; slot < caches.length; slot++) {
                OnnxTensor p = OnnxTensor.createTensor(b.env, buffer(slot).slice(0, n * rowFloats),
                        new long[] {n, heads, maxSeq, headDim});
                created.add(p);
                in.put(KvCacheDecoder.pastName(slot), p);
            }
            OnnxTensor x = Tensors.floats(b.env, embeds, n, 1, dims.hidden());
            created.add(x);
            in.put("inputs_embeds", x);
            long[] mask = new long[n * (maxSeq + 1)];
            long[] pos = new long[n];
            for (int i = 0; i < n; i++) {
                int length = rows.get(i).length;
                if (length >= maxSeq) throw new InferenceException("The context is full: " + maxSeq + " positions");
                java.util.Arrays.fill(mask, i * (maxSeq + 1), i * (maxSeq + 1) + length, 1L);
                mask[i * (maxSeq + 1) + maxSeq] = 1L;
                pos[i] = length;
            }
            OnnxTensor am = Tensors.longs(b.env, mask, n, maxSeq + 1);
            created.add(am);
            in.put("attention_mask", am);
            OnnxTensor pt = Tensors.longs(b.env, pos, n, 1);
            created.add(pt);
            in.put("position_ids", pt);
            try (OrtSession.Result r = b.decoder.run(in)) {
                for (int slot = 0; slot < caches.length; slot++) {
                    FloatBuffer fresh = Tensors.floatsOf(r, KvCacheDecoder.presentName(slot)); // [n, heads, 1, headDim]
                    FloatBuffer buf = buffer(slot);
                    for (int i = 0; i < n; i++) {
                        int length = rows.get(i).length;
                        for (int h = 0; h < heads; h++) {
                            buf.put(i * rowFloats + (h * maxSeq + length) * headDim, fresh, (i * heads + h) * headDim, headDim);
                        }
                    }
                }
                for (Row row : rows) row.length++;
                return new Output(Tensors.read(r, "logits"), Tensors.read(r, "hidden_states"));
            }
        } catch (OrtException e) {
            throw new InferenceException("batched decoder step failed: " + e.getMessage(), e);
        } finally {
            created.forEach(OnnxTensor::close);
        }
    }

    @Override
    public void close() {
        rows.clear();
    }
}

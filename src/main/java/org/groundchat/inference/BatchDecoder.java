package org.groundchat.inference;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxTensorLike;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One {@code decoder.onnx} call per step for several sequences, each feeding one embedding (batch dimension B).
 *
 * <p>The rows' KV caches have different lengths; the batch cache is LEFT-padded to the longest one, with
 * attention_mask 0 on the padding and each row's own position id. Left, because the new position is then the last
 * column of every row: the graph's causal check ({@code kj <= qi} over absolute indices of P+L, qi = P for one new
 * token) allows every column, the mask removes the padding, and the step's {@code present} tensors are again a
 * left-padded cache with each row's padding unchanged, so they go straight back in as the next step's past without
 * a copy. The cache is rebuilt (copied) only when rows join or leave; the rebuild also drops padding no row needs.
 *
 * <p>Padding changes nothing but rounding: each row's result equals its batch-1 result bit for bit when its padding
 * is a multiple of 4 columns (measured on this AVX2 CPU with ONNX Runtime 1.29: the softmax's vectorized sum puts
 * column j in lane j mod 4), and within a few 1e-6 otherwise. Batched rows without padding are bit-identical.
 * Not thread-safe: the caller driving the batch owns it ({@link DecodeBatcher}).
 */
final class BatchDecoder implements AutoCloseable {
    /** A step's output rows, in row order: logits [B, V] and hidden states [B, D]. */
    record Output(float[] logits, float[] hidden) {}

    private static final class Row {
        final Object key;
        int length;
        /** A joining row's own batch-1 cache, copied in (and closed) at the next rebuild. */
        KvCacheDecoder joining;

        Row(Object key, int length, KvCacheDecoder joining) {
            this.key = key;
            this.length = length;
            this.joining = joining;
        }
    }

    private final OnnxBundle b;
    private final BundleManifest.Dims dims;
    /** The padding's value, copied in chunks of this size. */
    private static final float[] ZEROS = new float[1 << 14];
    private static final Set<String> STEP_OUTPUTS = Set.of("logits", "hidden_states");
    private final List<Row> rows = new ArrayList<>();
    /** The rows as laid out in the last step's present (its length is {@link #previousColumns}). */
    private List<Row> previousRows = List.of();
    private int previousColumns;
    private boolean changed;
    /**
     * Two sets of cache buffers, one per layer and kind (layer 0 key, layer 0 value, ...): a step reads its past from
     * one set and ONNX Runtime writes its present into the other (pinned outputs), so the next step's past, and a
     * rebuild's source, are read in place. Reused from step to step: no per-step allocation, no copy to the Java heap.
     */
    private final DirectFloats[][] caches;
    /** The set holding the last step's present, or -1 before the first step. */
    private int current = -1;

    BatchDecoder(OnnxBundle bundle, BundleManifest.Dims dims) {
        this.b = bundle;
        this.dims = dims;
        this.caches = new DirectFloats[2][2 * dims.layers()];
        for (DirectFloats[] set : caches) for (int i = 0; i < set.length; i++) set[i] = new DirectFloats();
    }

    int size() { return rows.size(); }

    /** The rows' keys in row order: the order {@link #step} takes inputs and returns outputs in. */
    List<Object> keys() { return rows.stream().map(r -> r.key).toList(); }

    /** Adds a row after the others; takes ownership of its prefilled batch-1 cache. */
    void join(Object key, KvCacheDecoder prefilled) {
        rows.add(new Row(key, prefilled.length(), prefilled));
        changed = true;
    }

    /** Removes a row (its cache goes at the next step). */
    void leave(Object key) {
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            if (r.key == key) {
                if (r.joining != null) r.joining.close();
                rows.remove(i);
                changed = true;
                return;
            }
        }
    }

    /** Feeds one embedding per row ([B, D] in row order) and returns the rows' logits and hidden states. */
    Output step(float[] embeds) {
        int n = rows.size();
        int heads = dims.heads(), headDim = dims.headDim();
        List<OnnxTensor> created = new ArrayList<>();
        try {
            Map<String, OnnxTensorLike> in = new HashMap<>();
            int pastSet = changed ? (current < 0 ? 0 : 1 - current) : current;
            int columns = changed ? rebuild(pastSet) : previousColumns;
            int presentSet = 1 - pastSet;
            Map<String, OnnxTensor> pinned = new HashMap<>();
            for (int layer = 0; layer < dims.layers(); layer++) {
                for (int k = 0; k < 2; k++) {
                    String kind = k == 0 ? "key" : "value";
                    DirectFloats past = caches[pastSet][2 * layer + k], present = caches[presentSet][2 * layer + k];
                    OnnxTensor p = OnnxTensor.createTensor(b.env, past.take(n * heads * columns * headDim),
                            new long[] {n, heads, columns, headDim});
                    created.add(p);
                    in.put("past_key_values." + layer + "." + kind, p);
                    OnnxTensor out = OnnxTensor.createTensor(b.env, present.take(n * heads * (columns + 1) * headDim),
                            new long[] {n, heads, columns + 1, headDim});
                    created.add(out);
                    pinned.put("present." + layer + "." + kind, out);
                }
            }
            OnnxTensor x = Tensors.floats(b.env, embeds, n, 1, dims.hidden());
            created.add(x);
            in.put("inputs_embeds", x);
            long[] mask = new long[n * (columns + 1)];
            long[] pos = new long[n];
            for (int i = 0; i < n; i++) {
                int pad = columns - rows.get(i).length;
                java.util.Arrays.fill(mask, i * (columns + 1) + pad, (i + 1) * (columns + 1), 1L);
                pos[i] = rows.get(i).length;
            }
            OnnxTensor am = Tensors.longs(b.env, mask, n, columns + 1);
            created.add(am);
            in.put("attention_mask", am);
            OnnxTensor pt = Tensors.longs(b.env, pos, n, 1);
            created.add(pt);
            in.put("position_ids", pt);
            try (OrtSession.Result r = b.decoder.run(in, STEP_OUTPUTS, pinned)) {
                current = presentSet;
                previousColumns = columns + 1;
                previousRows = List.copyOf(rows);
                for (Row row : rows) row.length++;
                return new Output(Tensors.read(r, "logits"), Tensors.read(r, "hidden_states"));
            }
        } catch (OrtException e) {
            throw new InferenceException("batched decoder step failed: " + e.getMessage(), e);
        } finally {
            created.forEach(OnnxTensor::close);
        }
    }

    /**
     * Rows joined or left: copies every row's cache into set {@code into} as a left-padded cache as long as the longest
     * row (from the last step's present for rows that stay, from their own prefill for rows that join). Returns its
     * length.
     */
    private int rebuild(int into) {
        int n = rows.size();
        int columns = 0;
        for (Row r : rows) columns = Math.max(columns, r.length);
        Map<Object, Integer> oldIndex = new IdentityHashMap<>();
        for (int i = 0; i < previousRows.size(); i++) oldIndex.put(previousRows.get(i).key, i);
        int heads = dims.heads(), headDim = dims.headDim(), span = columns * headDim;
        int oldFloats = previousRows.size() * heads * previousColumns * headDim;
        for (int layer = 0; layer < dims.layers(); layer++) {
            for (int k = 0; k < 2; k++) {
                String kind = k == 0 ? "key" : "value";
                FloatBuffer past = caches[into][2 * layer + k].take(n * heads * span);
                FloatBuffer old = current < 0 ? null : caches[current][2 * layer + k].take(oldFloats);
                for (int i = 0; i < n; i++) {
                    Row r = rows.get(i);
                    int len = r.length * headDim, pad = (columns - r.length) * headDim;
                    float[] joining = r.joining != null ? r.joining.present(layer, kind) : null;
                    int srcRow = joining != null ? 0 : oldIndex.get(r.key);
                    int srcColumns = joining != null ? r.length : previousColumns;
                    for (int h = 0; h < heads; h++) {
                        int from = ((srcRow * heads + h) * srcColumns + srcColumns - r.length) * headDim;
                        int to = (i * heads + h) * span;
                        // the padding is masked out; zero, as a whole batch-1 prefill would not have it at all
                        for (int z = 0; z < pad; z += ZEROS.length) past.put(to + z, ZEROS, 0, Math.min(ZEROS.length, pad - z));
                        if (joining != null) past.put(to + pad, joining, from, len);
                        else past.put(to + pad, old, from, len);
                    }
                }
            }
        }
        for (Row r : rows) {
            if (r.joining != null) {
                r.joining.close();
                r.joining = null;
            }
        }
        changed = false;
        return columns;
    }

    @Override
    public void close() {
        for (Row r : rows) if (r.joining != null) r.joining.close();
        rows.clear();
        previousRows = List.of();
        current = -1;
    }
}

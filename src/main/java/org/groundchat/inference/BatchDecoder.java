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
    private final List<Row> rows = new ArrayList<>();
    /** The rows as laid out in {@link #previous} (its past length is {@link #previousColumns}). */
    private List<Row> previousRows = List.of();
    private OrtSession.Result previous;
    private int previousColumns;
    private boolean changed;
    /** The rebuilt past of each layer's key and value (layer 0 key, layer 0 value, ...), reused from rebuild to rebuild. */
    private final DirectFloats[] rebuilt;

    BatchDecoder(OnnxBundle bundle, BundleManifest.Dims dims) {
        this.b = bundle;
        this.dims = dims;
        this.rebuilt = new DirectFloats[2 * dims.layers()];
        for (int i = 0; i < rebuilt.length; i++) rebuilt[i] = new DirectFloats();
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
        List<OnnxTensor> created = new ArrayList<>();
        try {
            Map<String, OnnxTensorLike> in = new HashMap<>();
            int columns = changed ? rebuild(in, created) : reuse(in);
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
            OrtSession.Result r = b.decoder.run(in);
            if (previous != null) previous.close();
            previous = r;
            previousColumns = columns + 1;
            previousRows = List.copyOf(rows);
            for (Row row : rows) row.length++;
            return new Output(Tensors.read(r, "logits"), Tensors.read(r, "hidden_states"));
        } catch (OrtException e) {
            throw new InferenceException("batched decoder step failed: " + e.getMessage(), e);
        } finally {
            created.forEach(OnnxTensor::close);
        }
    }

    /** Same rows as the last step: its present tensors are this step's past. */
    private int reuse(Map<String, OnnxTensorLike> in) {
        for (int i = 0; i < dims.layers(); i++) {
            for (String kind : new String[] {"key", "value"}) {
                in.put("past_key_values." + i + "." + kind, (OnnxTensor) previous.get("present." + i + "." + kind).orElseThrow());
            }
        }
        return previousColumns;
    }

    /** Rows joined or left: copies every row's cache into a new left-padded cache as long as the longest row. */
    private int rebuild(Map<String, OnnxTensorLike> in, List<OnnxTensor> created) throws OrtException {
        int n = rows.size();
        int columns = 0;
        for (Row r : rows) columns = Math.max(columns, r.length);
        Map<Object, Integer> oldIndex = new IdentityHashMap<>();
        for (int i = 0; i < previousRows.size(); i++) oldIndex.put(previousRows.get(i).key, i);
        int heads = dims.heads(), headDim = dims.headDim(), span = columns * headDim;
        for (int layer = 0; layer < dims.layers(); layer++) {
            for (String kind : new String[] {"key", "value"}) {
                String name = "present." + layer + "." + kind;
                // read in place by ONNX Runtime; the tensor made over it is closed at the end of the step, so the
                // next rebuild may overwrite it
                FloatBuffer past = rebuilt[2 * layer + (kind.equals("key") ? 0 : 1)].take(n * heads * span);
                float[] old = null;
                for (int i = 0; i < n; i++) {
                    Row r = rows.get(i);
                    float[] src;
                    int srcRow, srcColumns;
                    if (r.joining != null) {
                        src = r.joining.present(layer, kind);
                        srcRow = 0;
                        srcColumns = r.length;
                    } else {
                        if (old == null) old = Tensors.read(previous, name);
                        src = old;
                        srcRow = oldIndex.get(r.key);
                        srcColumns = previousColumns;
                    }
                    int len = r.length * headDim, pad = (columns - r.length) * headDim;
                    for (int h = 0; h < heads; h++) {
                        int from = ((srcRow * heads + h) * srcColumns + srcColumns - r.length) * headDim;
                        int to = (i * heads + h) * columns * headDim;
                        // the padding is masked out; zero, as a whole batch-1 prefill would not have it at all
                        for (int z = 0; z < pad; z += ZEROS.length) past.put(to + z, ZEROS, 0, Math.min(ZEROS.length, pad - z));
                        past.put(to + pad, src, from, len);
                    }
                }
                OnnxTensor t = OnnxTensor.createTensor(b.env, past, new long[] {n, heads, columns, headDim});
                created.add(t);
                in.put("past_key_values." + layer + "." + kind, t);
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
        if (previous != null) {
            previous.close();
            previous = null;
        }
        previousRows = List.of();
    }
}

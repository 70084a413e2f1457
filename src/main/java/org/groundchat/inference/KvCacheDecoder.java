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
 * One answer's decoder state: runs {@code decoder.onnx} on new input embeddings with the KV cache of everything
 * fed so far (GenAI's names: {@code past_key_values.%d.key/value} in, {@code present.%d.key/value} out).
 *
 * <p>The cache is a buffer per layer and kind, [1, heads, stride, head_dim], that ONNX Runtime reads in place;
 * {@code attention_mask} marks its first {@link #length()} columns valid. A step's {@code present} holds only the new
 * positions' keys and values (bundle 2.1, {@code "kv_cache": "buffer"}), which are written into the buffer after them:
 * nothing already cached is copied. The stride grows in steps of {@link #STRIDE_STEP} columns ({@link #strideFor}), so a
 * step attends at most that many unused columns and the cache is laid out anew once per that many positions. The
 * buffers come from the engine's pool and go back on {@link #close()}.
 * Not thread-safe: one instance per answer.
 */
final class KvCacheDecoder implements AutoCloseable {
    /** Columns a cache's stride grows by: a step attends at most this many unused columns. */
    static final int STRIDE_STEP = 64;

    /** The outputs of one step: logits of the last fed position and the hidden state of every fed position. */
    record Step(float[] lastLogits, float[] hidden, int count) {
        float[] hiddenAt(int i, int d) {
            float[] h = new float[d];
            System.arraycopy(hidden, i * d, h, 0, d);
            return h;
        }

        float[] lastHidden(int d) { return hiddenAt(count - 1, d); }
    }

    private final OnnxBundle b;
    private final int layers, heads, headDim, hidden, vocab, maxSeq;
    /** The pooled cache: one buffer per layer and kind (layer 0 key, layer 0 value, ...), room for maxSeq columns each. */
    private KvBufferPool.CacheSet set;
    private int length, stride;
    private final BundleManifest.Dims dims;

    KvCacheDecoder(OnnxBundle bundle, BundleManifest.Dims dims) {
        this.b = bundle;
        this.dims = dims;
        this.layers = dims.layers();
        this.heads = dims.heads();
        this.headDim = dims.headDim();
        this.hidden = dims.hidden();
        this.vocab = dims.vocab();
        this.maxSeq = dims.maxSeq();
        this.set = bundle.kvBuffers.acquire(2 * layers, (maxSeq + STRIDE_STEP - 1) / STRIDE_STEP);
        this.stride = strideFor(1, maxSeq);
    }

    /** The stride that holds {@code columns} columns: the next multiple of {@link #STRIDE_STEP}, at most max_seq. */
    static int strideFor(int columns, int maxSeq) {
        return Math.min(maxSeq, Math.max(1, (columns + STRIDE_STEP - 1) / STRIDE_STEP) * STRIDE_STEP);
    }

    /** A decoder that continues after the kept prompt's first {@code prefix.length()} positions. */
    KvCacheDecoder(OnnxBundle bundle, BundleManifest.Dims dims, PromptCache.Prefix prefix) {
        this(bundle, dims);
        this.length = prefix.length();
        this.stride = strideFor(length + 1, maxSeq);
        for (int slot = 0; slot < set.buffers.length; slot++) {
            FloatBuffer buf = buffer(slot);
            float[] kv = prefix.kv()[slot];
            for (int h = 0; h < heads; h++) {
                buf.put(h * stride * headDim, kv, h * prefix.stride() * headDim, length * headDim);
            }
        }
    }

    int length() { return length; }

    /** Columns per head in {@link #buffer}: at least {@link #length()}. */
    int stride() { return stride; }

    /**
     * The buffer of a layer's key (slot 2 * layer) or value (2 * layer + 1): [1, heads, {@link #stride()}, headDim]
     * from index 0, within room for max_seq columns.
     */
    FloatBuffer buffer(int slot) {
        return set.buffers[slot].take(heads * maxSeq * headDim);
    }

    /**
     * Makes room for {@code columns} columns per head: a larger stride moves every head's valid columns to its new
     * place, the last head first so that no head overwrites one not yet moved.
     */
    private void reserve(int columns) {
        if (columns <= stride) return;
        int wider = strideFor(columns, maxSeq);
        for (int slot = 0; slot < set.buffers.length; slot++) {
            FloatBuffer buf = buffer(slot);
            for (int h = heads - 1; h > 0; h--) buf.put(h * wider * headDim, buf, h * stride * headDim, length * headDim);
        }
        stride = wider;
    }

    /** Feeds {@code count} embeddings ([count, D] row-major) at positions length..length+count-1. */
    Step feed(float[] embeds, int count) {
        if (length + count > maxSeq) {
            throw new InferenceException("The context is full: " + (length + count) + " positions, the model has " + maxSeq);
        }
        if (count == 1) return step(embeds);
        List<OnnxTensor> created = new ArrayList<>();
        try {
            Map<String, OnnxTensorLike> in = new HashMap<>();
            OnnxTensor x = Tensors.floats(b.env, embeds, 1, count, hidden);
            created.add(x);
            in.put("inputs_embeds", x);
            // a prompt (many new positions) gets only the cached columns, copied: each new position would otherwise
            // score every unused column too. The past is at least one (masked) column: the graph cannot reshape an
            // empty one.
            int columnsOfPast = Math.max(length, 1);
            long[] mask = new long[columnsOfPast + count];
            java.util.Arrays.fill(mask, 0, length, 1L);
            java.util.Arrays.fill(mask, columnsOfPast, columnsOfPast + count, 1L);
            OnnxTensor am = Tensors.longs(b.env, mask, 1, mask.length);
            created.add(am);
            in.put("attention_mask", am);
            long[] pos = new long[count];
            for (int i = 0; i < count; i++) pos[i] = length + i;
            OnnxTensor pt = Tensors.longs(b.env, pos, 1, count);
            created.add(pt);
            in.put("position_ids", pt);
            for (int slot = 0; slot < set.buffers.length; slot++) {
                OnnxTensor past = OnnxTensor.createTensor(b.env, compactPast(slot), new long[] {1, heads, columnsOfPast, headDim});
                created.add(past);
                in.put(pastName(slot), past);
            }
            try (OrtSession.Result r = b.decoder.run(in)) {
                float[] logits = Tensors.read(r, "logits");
                float[] last = new float[vocab];
                System.arraycopy(logits, (count - 1) * vocab, last, 0, vocab);
                float[] h = Tensors.read(r, "hidden_states");
                reserve(length + count);
                for (int slot = 0; slot < set.buffers.length; slot++) {
                    FloatBuffer fresh = Tensors.floatsOf(r, presentName(slot)); // [1, heads, count, headDim]
                    FloatBuffer buf = buffer(slot);
                    for (int hd = 0; hd < heads; hd++) {
                        buf.put((hd * stride + length) * headDim, fresh, hd * count * headDim, count * headDim);
                    }
                }
                length += count;
                return new Step(last, h, count);
            }
        } catch (OrtException e) {
            throw new InferenceException("decoder step failed: " + e.getMessage(), e);
        } finally {
            created.forEach(OnnxTensor::close);
        }
    }

    /** One new position: reads the buffer in place, its stride wide, through tensors kept from step to step. */
    private Step step(float[] embeds) {
        reserve(length + 1);
        // the cache's tensors for this stride, made by the first answer that reached it and kept with the buffers
        int index = (stride + STRIDE_STEP - 1) / STRIDE_STEP - 1, columns = stride;
        StepTensors io = set.steps[index];
        if (io == null) {
            io = new StepTensors(b, dims, 1, columns, slot -> buffer(slot).slice(0, heads * columns * headDim));
            set.steps[index] = io;
        }
        io.embeds.put(0, embeds);
        io.place(0, length);
        try {
            io.run();
        } catch (OrtException e) {
            throw new InferenceException("decoder step failed: " + e.getMessage(), e);
        }
        for (int slot = 0; slot < set.buffers.length; slot++) {
            FloatBuffer buf = buffer(slot);
            for (int h = 0; h < heads; h++) buf.put((h * stride + length) * headDim, io.presents[slot], h * headDim, headDim);
        }
        length++;
        float[] last = new float[vocab], h = new float[hidden];
        io.logits.get(0, last);
        io.hidden.get(0, h);
        return new Step(last, h, 1);
    }

    /** Each thread's buffers for a prompt's past: a feed is synchronous and closes its tensors before it returns. */
    private static final ThreadLocal<List<DirectFloats>> COMPACT = ThreadLocal.withInitial(ArrayList::new);

    /** The cached columns of one buffer, [1, heads, length, headDim], in a thread's scratch buffer. */
    private FloatBuffer compactPast(int slot) {
        List<DirectFloats> scratch = COMPACT.get();
        while (scratch.size() <= slot) scratch.add(new DirectFloats());
        int columns = Math.max(length, 1);
        FloatBuffer out = scratch.get(slot).take(heads * columns * headDim), buf = buffer(slot);
        for (int h = 0; h < heads; h++) out.put(h * columns * headDim, buf, h * stride * headDim, columns * headDim);
        return out;
    }

    static String pastName(int slot) {
        return "past_key_values." + slot / 2 + (slot % 2 == 0 ? ".key" : ".value");
    }

    static String presentName(int slot) {
        return "present." + slot / 2 + (slot % 2 == 0 ? ".key" : ".value");
    }

    /**
     * Every layer's key and value cache, [heads, length, headDim] each, in the order layer 0 key, layer 0 value, ...:
     * a copy, for the prompt cache.
     */
    float[][] presents() {
        float[][] out = new float[set.buffers.length][];
        for (int slot = 0; slot < set.buffers.length; slot++) {
            FloatBuffer buf = buffer(slot);
            float[] kv = new float[heads * length * headDim];
            for (int h = 0; h < heads; h++) buf.get(h * stride * headDim, kv, h * length * headDim, length * headDim);
            out[slot] = kv;
        }
        return out;
    }

    @Override
    public void close() {
        if (set != null) {
            b.kvBuffers.release(set);
            set = null;
        }
    }
}

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
 * The present tensors of one step are passed straight back as the next step's past, without copying.
 * Not thread-safe: one instance per answer.
 */
final class KvCacheDecoder implements AutoCloseable {
    /** The outputs of one step: logits of the last fed position and the hidden state of every fed position. */
    record Step(float[] lastLogits, float[] hidden, int count) {
        float[] hiddenAt(int i, int d) {
            float[] h = new float[d];
            System.arraycopy(hidden, i * d, h, 0, d);
            return h;
        }

        float[] lastHidden(int d) { return hiddenAt(count - 1, d); }
    }

    /**
     * Each thread's buffers for a kept prompt's start, one per layer and kind: a feed is synchronous on its thread and
     * closes the tensors made over them before it returns.
     */
    private static final ThreadLocal<List<DirectFloats>> KEPT = ThreadLocal.withInitial(ArrayList::new);

    private final OnnxBundle b;
    private final int layers, heads, headDim, hidden, vocab;
    private OrtSession.Result previous;
    private int length;
    /** The last step's caches as read by {@link #presents()} (the prompt cache keeps them; a joining batch reads them). */
    private float[][] read;
    /** A kept prompt's start to continue from (first feed only), or null to start empty. */
    private PromptCache.Prefix start;

    KvCacheDecoder(OnnxBundle bundle, BundleManifest.Dims dims) {
        this.b = bundle;
        this.layers = dims.layers();
        this.heads = dims.heads();
        this.headDim = dims.headDim();
        this.hidden = dims.hidden();
        this.vocab = dims.vocab();
    }

    /** A decoder whose first feed continues after the kept prompt's first {@code prefix.length()} positions. */
    KvCacheDecoder(OnnxBundle bundle, BundleManifest.Dims dims, PromptCache.Prefix prefix) {
        this(bundle, dims);
        this.start = prefix;
        this.length = prefix.length();
    }

    int length() { return length; }

    /** Feeds {@code count} embeddings ([count, D] row-major) at positions length..length+count-1. */
    Step feed(float[] embeds, int count) {
        List<OnnxTensor> created = new ArrayList<>();
        try {
            Map<String, OnnxTensorLike> in = new HashMap<>();
            OnnxTensor x = Tensors.floats(b.env, embeds, 1, count, hidden);
            created.add(x);
            in.put("inputs_embeds", x);
            long[] mask = new long[length + count];
            java.util.Arrays.fill(mask, 1L);
            OnnxTensor am = Tensors.longs(b.env, mask, 1, mask.length);
            created.add(am);
            in.put("attention_mask", am);
            long[] pos = new long[count];
            for (int i = 0; i < count; i++) pos[i] = length + i;
            OnnxTensor pt = Tensors.longs(b.env, pos, 1, count);
            created.add(pt);
            in.put("position_ids", pt);
            for (int i = 0; i < layers; i++) {
                for (String kind : new String[] {"key", "value"}) {
                    OnnxTensorLike past;
                    if (previous == null) {
                        int slot = 2 * i + (kind.equals("key") ? 0 : 1);
                        OnnxTensor first = start == null ? Tensors.floats(b.env, new float[0], 1, heads, 0, headDim)
                                : OnnxTensor.createTensor(b.env, kept(start.kv()[slot], slot), new long[] {1, heads, length, headDim});
                        created.add(first);
                        past = first;
                    } else {
                        past = (OnnxTensor) previous.get("present." + i + "." + kind).orElseThrow();
                    }
                    in.put("past_key_values." + i + "." + kind, past);
                }
            }
            OrtSession.Result r = b.decoder.run(in);
            float[] logits = Tensors.read(r, "logits");
            float[] last = new float[vocab];
            System.arraycopy(logits, (count - 1) * vocab, last, 0, vocab);
            float[] h = Tensors.read(r, "hidden_states");
            if (previous != null) previous.close();
            previous = r;
            start = null;
            read = null;
            length += count;
            return new Step(last, h, count);
        } catch (OrtException e) {
            throw new InferenceException("decoder step failed: " + e.getMessage(), e);
        } finally {
            created.forEach(OnnxTensor::close);
        }
    }

    /**
     * The first {@code length} positions of each head of a kept cache ([1, heads, stride, head_dim]), in a direct
     * buffer that ONNX Runtime reads in place.
     */
    private FloatBuffer kept(float[] kv, int slot) {
        int stride = start.stride();
        List<DirectFloats> buffers = KEPT.get();
        while (buffers.size() <= slot) buffers.add(new DirectFloats());
        FloatBuffer out = buffers.get(slot).take(heads * length * headDim);
        for (int h = 0; h < heads; h++) out.put(h * length * headDim, kv, h * stride * headDim, length * headDim);
        return out;
    }

    /** Every layer's key and value cache ({@link #present}), in the order layer 0 key, layer 0 value, layer 1 key... */
    float[][] presents() {
        if (read != null) return read;
        float[][] out = new float[2 * layers][];
        for (int i = 0; i < layers; i++) {
            out[2 * i] = present(i, "key");
            out[2 * i + 1] = present(i, "value");
        }
        read = out;
        return out;
    }

    /**
     * The cache of layer {@code layer} ({@code kind} "key" or "value"), [1, heads, length, head_dim] row-major: what
     * a batch copies when this answer joins it.
     */
    float[] present(int layer, String kind) {
        if (previous == null) throw new IllegalStateException("nothing fed yet");
        if (read != null) return read[2 * layer + (kind.equals("key") ? 0 : 1)]; // kept by presents(): not copied twice
        try {
            return Tensors.read(previous, "present." + layer + "." + kind);
        } catch (OrtException e) {
            throw new InferenceException("reading the KV cache failed: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        if (previous != null) {
            previous.close();
            previous = null;
        }
    }
}

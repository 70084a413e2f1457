package org.groundchat.inference;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxTensorLike;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
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

    private final OnnxBundle b;
    private final int layers, heads, headDim, hidden, vocab;
    private OrtSession.Result previous;
    private int length;

    KvCacheDecoder(OnnxBundle bundle, BundleManifest.Dims dims) {
        this.b = bundle;
        this.layers = dims.layers();
        this.heads = dims.heads();
        this.headDim = dims.headDim();
        this.hidden = dims.hidden();
        this.vocab = dims.vocab();
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
                        OnnxTensor empty = Tensors.floats(b.env, new float[0], 1, heads, 0, headDim);
                        created.add(empty);
                        past = empty;
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
            length += count;
            return new Step(last, h, count);
        } catch (OrtException e) {
            throw new InferenceException("decoder step failed: " + e.getMessage(), e);
        } finally {
            created.forEach(OnnxTensor::close);
        }
    }

    /**
     * The cache of layer {@code layer} ({@code kind} "key" or "value"), [1, heads, length, head_dim] row-major: what
     * a batch copies when this answer joins it.
     */
    float[] present(int layer, String kind) {
        if (previous == null) throw new IllegalStateException("nothing fed yet");
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

package org.groundchat.inference.nextchat;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * One answer's decoder state: the GenAI-named decoder (inputs_embeds, attention_mask, position_ids,
 * past_key_values.L.key/value -> logits, hidden_states, present.L.key/value) with its KV cache kept as the previous
 * run's output tensors, fed straight back (no copy into Java arrays per step).
 */
final class NextChatDecoder implements AutoCloseable {
    private final NextChatSessions s;
    private final NextChatManifest m;
    private OrtSession.Result previous; // owns the present.* tensors that are the next step's past
    private int position;
    private float[] logits, hidden;

    NextChatDecoder(NextChatSessions s, NextChatManifest m) {
        this.s = s;
        this.m = m;
    }

    /** Feeds n input embeddings ([n, hidden] flattened) at the next positions; keeps the last row's outputs. */
    void feed(float[] embeds) throws OrtException {
        int d = m.hidden(), n = embeds.length / d;
        Map<String, OnnxTensor> in = new HashMap<>();
        Map<String, OnnxTensor> owned = new HashMap<>();
        try {
            owned.put("inputs_embeds", s.floats(embeds, 1, n, d));
            long[] mask = new long[position + n];
            Arrays.fill(mask, 1);
            owned.put("attention_mask", s.longs(mask, 1, mask.length));
            long[] pos = new long[n];
            for (int i = 0; i < n; i++) pos[i] = position + i;
            owned.put("position_ids", s.longs(pos, 1, n));
            for (int l = 0; l < m.layers(); l++) {
                for (String kv : new String[] {"key", "value"}) {
                    String name = "past_key_values." + l + "." + kv;
                    if (previous == null) {
                        owned.put(name, s.floats(new float[0], 1, m.kvHeads(), 0, m.headDim()));
                    } else {
                        in.put(name, (OnnxTensor) previous.get("present." + l + "." + kv).orElseThrow());
                    }
                }
            }
            in.putAll(owned);
            OrtSession.Result r = s.decoder.run(in);
            if (previous != null) previous.close();
            previous = r;
        } finally {
            owned.values().forEach(OnnxTensor::close);
        }
        position += n;
        logits = lastRow(previous.get("logits").orElseThrow(), m.vocab());
        hidden = lastRow(previous.get("hidden_states").orElseThrow(), d);
    }

    private static float[] lastRow(OnnxValue v, int width) {
        float[] all = NextChatSessions.read(v);
        return Arrays.copyOfRange(all, all.length - width, all.length);
    }

    float[] logits() { return logits; }

    /** The last position's final hidden state: what box_decoder and mask_decoder read at {@code <at>}. */
    float[] hidden() { return hidden; }

    int position() { return position; }

    @Override
    public void close() {
        if (previous != null) previous.close();
        previous = null;
    }
}

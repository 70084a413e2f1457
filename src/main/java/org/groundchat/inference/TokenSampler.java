package org.groundchat.inference;

import java.util.Arrays;
import java.util.Random;

/**
 * Picks the next token from logits: greedy when temperature is 0, otherwise temperature, top-k and top-p
 * (nucleus) sampling. Banned tokens (prompt-only tokens such as {@code <image>}, and {@code <boxes>}, which only
 * ever follows {@code <at>} and is forced by the engine) are never picked.
 */
final class TokenSampler {
    private final GenerationOptions options;
    private final int[] banned;
    private final Random random;

    TokenSampler(GenerationOptions options, int[] banned) {
        this.options = options;
        this.banned = banned.clone();
        this.random = new Random(options.seed());
    }

    int pick(float[] logits) {
        float[] l = logits.clone();
        for (int b : banned) if (b >= 0 && b < l.length) l[b] = Float.NEGATIVE_INFINITY;
        if (options.temperature() <= 0) return argmax(l);
        int n = l.length;
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Float.compare(l[b], l[a]));
        int k = options.topK() > 0 ? Math.min(options.topK(), n) : n;
        double max = l[order[0]];
        double[] p = new double[k];
        double sum = 0;
        for (int i = 0; i < k; i++) {
            p[i] = Double.isInfinite(l[order[i]]) ? 0 : Math.exp((l[order[i]] - max) / options.temperature());
            sum += p[i];
        }
        // nucleus: keep the smallest prefix whose probability mass reaches topP
        double topP = options.topP() <= 0 || options.topP() > 1 ? 1 : options.topP();
        double acc = 0;
        int keep = k;
        for (int i = 0; i < k; i++) {
            acc += p[i] / sum;
            if (acc >= topP) {
                keep = i + 1;
                break;
            }
        }
        double kept = 0;
        for (int i = 0; i < keep; i++) kept += p[i];
        double r = random.nextDouble() * kept;
        for (int i = 0; i < keep; i++) {
            r -= p[i];
            if (r <= 0) return order[i];
        }
        return order[keep - 1];
    }

    static int argmax(float[] l) {
        int best = 0;
        for (int i = 1; i < l.length; i++) if (l[i] > l[best]) best = i;
        return best;
    }
}

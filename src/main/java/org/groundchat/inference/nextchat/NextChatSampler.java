package org.groundchat.inference.nextchat;

import java.util.Arrays;
import java.util.Random;
import java.util.Set;
import org.groundchat.inference.GenerationOptions;

/**
 * Picks the next token with the bundle's banned ids masked out: argmax for temperature 0 (the reference's greedy
 * loop, ties to the lowest id as torch.argmax), else temperature, top-k and top-p sampling from a seeded Random.
 *
 * <p>Why not {@code TokenSampler}: it is package-private in org.groundchat.inference.
 */
final class NextChatSampler {
    private final GenerationOptions o;
    private final Set<Integer> banned;
    private final Random random;

    NextChatSampler(GenerationOptions o, Set<Integer> banned) {
        this.o = o;
        this.banned = banned;
        this.random = new Random(o.seed());
    }

    int pick(float[] logits) {
        if (o.temperature() <= 0) {
            int best = -1;
            for (int v = 0; v < logits.length; v++) {
                if (!banned.contains(v) && (best < 0 || logits[v] > logits[best])) best = v;
            }
            return best;
        }
        Integer[] order = new Integer[logits.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
        int k = o.topK() > 0 ? Math.min(o.topK(), order.length) : order.length;
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < k; i++) if (!banned.contains(order[i])) max = Math.max(max, logits[order[i]]);
        double[] p = new double[k];
        double sum = 0;
        for (int i = 0; i < k; i++) {
            p[i] = banned.contains(order[i]) ? 0 : Math.exp((logits[order[i]] - max) / o.temperature());
            sum += p[i];
        }
        // top-p: keep the smallest prefix of the sorted tokens whose mass reaches topP
        double kept = 0;
        int n = 0;
        while (n < k && (kept < o.topP() * sum || n == 0)) kept += p[n++];
        double r = random.nextDouble() * kept;
        for (int i = 0; i < n; i++) {
            r -= p[i];
            if (r <= 0 && p[i] > 0) return order[i];
        }
        for (int i = n - 1; i >= 0; i--) if (p[i] > 0) return order[i];
        return order[0];
    }
}

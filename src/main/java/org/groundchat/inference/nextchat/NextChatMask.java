package org.groundchat.inference.nextchat;

import org.groundchat.inference.MaskRle;

/**
 * mask_logits [m, m] cover the whole padded square. The reference upsamples them bilinearly to the square's side
 * (F.interpolate, align_corners=False: half-pixel centres, source clamped at 0), cuts out the image and thresholds
 * at 0; sampling only the image's pixels gives the same values. Written as run-length directly.
 *
 * <p>Why not {@code MaskRenderer}: it is package-private and pastes a box-sized mask (contracts 1 and 2).
 */
final class NextChatMask {
    private NextChatMask() {}

    static MaskRle render(float[] logits, int m, SquareFrame f, double threshold) {
        int w = f.width(), h = f.height();
        double scale = (double) m / f.side();
        RunWriter runs = new RunWriter();
        for (int y = 0; y < h; y++) {
            double sy = Math.max((y + f.offsetY() + 0.5) * scale - 0.5, 0);
            int y0 = Math.min((int) sy, m - 1), y1 = Math.min(y0 + 1, m - 1);
            double fy = sy - y0;
            for (int x = 0; x < w; x++) {
                double sx = Math.max((x + f.offsetX() + 0.5) * scale - 0.5, 0);
                int x0 = Math.min((int) sx, m - 1), x1 = Math.min(x0 + 1, m - 1);
                double fx = sx - x0;
                double v = (1 - fy) * ((1 - fx) * logits[y0 * m + x0] + fx * logits[y0 * m + x1])
                        + fy * ((1 - fx) * logits[y1 * m + x0] + fx * logits[y1 * m + x1]);
                runs.add(v > threshold);
            }
        }
        return new MaskRle(h, w, runs.counts());
    }

    /** Alternating runs of 0 and 1 starting with 0 (possibly empty), as {@link MaskRle} stores them. */
    private static final class RunWriter {
        private int[] counts = new int[16];
        private int n = 1; // counts[0] is the first run of 0
        private boolean on;

        void add(boolean bit) {
            if (bit != on) {
                if (n == counts.length) counts = java.util.Arrays.copyOf(counts, n * 2);
                n++;
                on = bit;
            }
            counts[n - 1]++;
        }

        int[] counts() { return java.util.Arrays.copyOf(counts, n); }
    }
}

package org.groundchat.inference;

/**
 * Maps the mask decoder's crop-frame logits onto the original image and run-length encodes the result.
 * The crop frame is the box grown by {@code expand} of its width/height on each side; logits sit at the cell
 * centres of an MxM grid over it. A pixel's centre ((x+0.5)/side, (y+0.5)/side) is located in that grid, the
 * logits are interpolated bilinearly (edge cells clamp), and the pixel is foreground when the value is above the
 * threshold. Pixels outside the crop frame are background. Same arithmetic as the Python reference.
 */
final class MaskRenderer {
    private MaskRenderer() {}

    static MaskRle render(float[] logits, int m, float[] box, int width, int height, double expand, double threshold) {
        double side = Math.max(width, height);
        double w = Math.max(box[2] - box[0], 1e-3), h = Math.max(box[3] - box[1], 1e-3);
        double cx1 = box[0] - expand * w, cy1 = box[1] - expand * h;
        double cw = w * (1 + 2 * expand), ch = h * (1 + 2 * expand);
        int px0 = Math.max(0, (int) Math.floor(cx1 * side));
        int px1 = Math.min(width, (int) Math.ceil((cx1 + cw) * side) + 1);
        int py0 = Math.max(0, (int) Math.floor(cy1 * side));
        int py1 = Math.min(height, (int) Math.ceil((cy1 + ch) * side) + 1);
        RleWriter rle = new RleWriter((long) width * height);
        if (px0 >= px1 || py0 >= py1) return rle.finish(height, width);
        int cols = px1 - px0;
        int[] x0 = new int[cols], x1 = new int[cols];
        double[] fx = new double[cols];
        boolean[] inX = new boolean[cols];
        for (int i = 0; i < cols; i++) {
            double g = ((px0 + i + 0.5) / side - cx1) / cw * m - 0.5;
            inX[i] = g >= -0.5 && g <= m - 0.5;
            g = Math.min(Math.max(g, 0), m - 1);
            x0[i] = (int) Math.floor(g);
            x1[i] = Math.min(x0[i] + 1, m - 1);
            fx[i] = g - x0[i];
        }
        for (int y = py0; y < py1; y++) {
            double g = ((y + 0.5) / side - cy1) / ch * m - 0.5;
            boolean inY = g >= -0.5 && g <= m - 0.5;
            g = Math.min(Math.max(g, 0), m - 1);
            int y0 = (int) Math.floor(g), y1 = Math.min(y0 + 1, m - 1);
            double fy = g - y0;
            long rowStart = (long) y * width;
            for (int i = 0; i < cols; i++) {
                if (!inY || !inX[i]) continue;
                double top = logits[y0 * m + x0[i]] * (1 - fx[i]) + logits[y0 * m + x1[i]] * fx[i];
                double bot = logits[y1 * m + x0[i]] * (1 - fx[i]) + logits[y1 * m + x1[i]] * fx[i];
                if (top * (1 - fy) + bot * fy > threshold) rle.set(rowStart + px0 + i);
            }
        }
        return rle.finish(height, width);
    }

    /** Accumulates foreground pixel indices, which must arrive in increasing order, into row-major runs. */
    static final class RleWriter {
        private final long total;
        private final java.util.ArrayList<Integer> counts = new java.util.ArrayList<>();
        private long pos;
        private long runStart = -1;
        private long runEnd = -1;

        RleWriter(long total) { this.total = total; }

        void set(long index) {
            if (index == runEnd) {
                runEnd++;
                return;
            }
            flush();
            runStart = index;
            runEnd = index + 1;
        }

        private void flush() {
            if (runStart < 0) return;
            counts.add((int) (runStart - pos));
            counts.add((int) (runEnd - runStart));
            pos = runEnd;
            runStart = -1;
        }

        MaskRle finish(int height, int width) {
            flush();
            if (pos < total) counts.add((int) (total - pos));
            return new MaskRle(height, width, counts.stream().mapToInt(Integer::intValue).toArray());
        }
    }
}

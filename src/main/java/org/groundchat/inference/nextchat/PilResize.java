package org.groundchat.inference.nextchat;

/**
 * Pillow's {@code Image.resize} for 8-bit RGB with the BICUBIC and BILINEAR filters, bit for bit.
 *
 * <p>Why not Java2D: the checkpoint was trained on CLIPImageProcessor (PIL bicubic) and SAM's ResizeLongestSide (PIL
 * bilinear) output, and Java2D neither widens the filter when it shrinks (no antialias) nor rounds as Pillow does.
 * This mirrors libImaging/Resample.c: a separable two-pass resample (horizontal first, over only the rows the
 * vertical pass reads, then vertical), each output pixel a weighted sum over a window of {@code support * scale}
 * input pixels (the filter is stretched by the scale when downscaling), weights normalized to sum 1 in double, then
 * converted to 22-bit fixed point; each pass accumulates in int from a half-unit bias and clips to 0..255, so the
 * intermediate image is uint8 too.
 */
final class PilResize {
    /** Pillow's filters: the kernel and its support radius in input pixels at scale 1. */
    enum Filter {
        BILINEAR(1.0) {
            @Override double weight(double x) {
                x = Math.abs(x);
                return x < 1.0 ? 1.0 - x : 0.0;
            }
        },
        BICUBIC(2.0) {
            @Override double weight(double x) {
                final double a = -0.5; // Pillow's (and CLIP's) cubic convolution constant
                x = Math.abs(x);
                if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
                if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
                return 0.0;
            }
        };

        final double support;

        Filter(double support) { this.support = support; }

        abstract double weight(double x);
    }

    private static final int PRECISION_BITS = 32 - 8 - 2;

    private PilResize() {}

    /** Window start and length per output pixel, and its fixed-point weights (ksize per output pixel). */
    private record Coeffs(int[] start, int[] length, int[] weights, int ksize) {}

    /**
     * Resizes interleaved RGB (3 bytes a pixel, row-major, values 0..255 in an int array for speed of access) from
     * inW x inH to outW x outH. Returns interleaved RGB of the new size.
     */
    static int[] resize(int[] rgb, int inW, int inH, int outW, int outH, Filter filter) {
        boolean horizontal = outW != inW, vertical = outH != inH;
        if (!horizontal && !vertical) return rgb.clone();
        Coeffs v = coeffs(inH, outH, filter);
        int firstRow = v.start[0];
        int lastRow = v.start[outH - 1] + v.length[outH - 1];
        int[] img = rgb;
        int w = inW;
        int rowOffset = 0; // img's first row is source row rowOffset
        if (horizontal) {
            // only the rows the vertical pass reads, as Pillow does
            int rows = vertical ? lastRow - firstRow : inH;
            rowOffset = vertical ? firstRow : 0;
            img = new int[rows * outW * 3];
            pass(rgb, rowOffset * inW * 3, img, rows, inW * 3, 3, outW * 3, 3, coeffs(inW, outW, filter), outW, 0);
            w = outW;
        }
        if (!vertical) return img;
        int[] out = new int[outH * w * 3];
        // a column is a line here: step down the rows of img
        pass(img, 0, out, w, 3, w * 3, 3, w * 3, v, outH, rowOffset);
        return out;
    }

    /**
     * One 1-D resample of every line (a row for the horizontal pass, a column for the vertical one) with Pillow's
     * fixed-point accumulation: a half-unit bias, int sums of value x weight, then {@link #clip8}.
     */
    private static void pass(int[] in, int inBase, int[] out, int lines, int inLineStride, int inStep,
                             int outLineStride, int outStep, Coeffs k, int outCount, int shift) {
        for (int line = 0; line < lines; line++) {
            int src = inBase + line * inLineStride, dst = line * outLineStride;
            for (int o = 0; o < outCount; o++) {
                int s0 = k.start[o] - shift, n = k.length[o], kb = o * k.ksize;
                int r = 1 << (PRECISION_BITS - 1), g = r, b = r;
                for (int i = 0; i < n; i++) {
                    int p = src + (s0 + i) * inStep, wt = k.weights[kb + i];
                    r += in[p] * wt;
                    g += in[p + 1] * wt;
                    b += in[p + 2] * wt;
                }
                int q = dst + o * outStep;
                out[q] = clip8(r);
                out[q + 1] = clip8(g);
                out[q + 2] = clip8(b);
            }
        }
    }

    /** precompute_coeffs + normalize_coeffs_8bpc for the full box (0, inSize). */
    private static Coeffs coeffs(int inSize, int outSize, Filter filter) {
        double scale = (double) inSize / outSize;
        double filterScale = Math.max(scale, 1.0);
        double support = filter.support * filterScale;
        int ksize = (int) Math.ceil(support) * 2 + 1;
        int[] start = new int[outSize], length = new int[outSize], weights = new int[outSize * ksize];
        double[] k = new double[ksize];
        for (int xx = 0; xx < outSize; xx++) {
            double center = (xx + 0.5) * scale;
            double ss = 1.0 / filterScale;
            // C's (int) truncates toward zero, as Java's cast does
            int xmin = Math.max((int) (center - support + 0.5), 0);
            int xmax = Math.min((int) (center + support + 0.5), inSize) - xmin;
            double ww = 0.0;
            for (int x = 0; x < xmax; x++) {
                double wt = filter.weight((x + xmin - center + 0.5) * ss);
                k[x] = wt;
                ww += wt;
            }
            for (int x = 0; x < xmax; x++) {
                double norm = ww != 0.0 ? k[x] / ww : k[x];
                weights[xx * ksize + x] = norm < 0
                        ? (int) (-0.5 + norm * (1 << PRECISION_BITS))
                        : (int) (0.5 + norm * (1 << PRECISION_BITS));
            }
            start[xx] = xmin;
            length[xx] = xmax;
        }
        return new Coeffs(start, length, weights, ksize);
    }

    /** Pillow's clip8: drop the fixed-point fraction (arithmetic shift) and clamp to a byte. */
    private static int clip8(int acc) {
        int v = acc >> PRECISION_BITS;
        return v < 0 ? 0 : Math.min(v, 255);
    }
}

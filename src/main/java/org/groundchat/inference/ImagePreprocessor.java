package org.groundchat.inference;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferInt;
import java.awt.image.Raster;
import java.awt.image.SinglePixelPackedSampleModel;

/**
 * Builds the vision encoder input exactly as the training code does: pad right/bottom to a square of side
 * max(w,h) with the pad colour, resize to size x size with bilinear interpolation (half-pixel centres, no
 * antialias, = torch interpolate(mode="bilinear", align_corners=False)), then (x - mean) / std, NCHW float32.
 * The padded square is never materialised: samples beyond the image read the pad colour directly.
 */
public final class ImagePreprocessor {
    private final BundleManifest.ImageSpec spec;

    public ImagePreprocessor(BundleManifest.ImageSpec spec) {
        if (!"bilinear_half_pixel_no_antialias".equals(spec.resize())) {
            throw new InferenceException("bundle.json: image.resize '" + spec.resize()
                    + "' is not supported (expected bilinear_half_pixel_no_antialias)");
        }
        if (!"right_bottom".equals(spec.pad())) {
            throw new InferenceException("bundle.json: image.pad '" + spec.pad() + "' is not supported (expected right_bottom)");
        }
        this.spec = spec;
    }

    public int size() { return spec.size(); }

    /** Returns pixel_values as a flat [3, size, size] array. */
    public float[] pixelValues(BufferedImage image) {
        int w = image.getWidth(), h = image.getHeight();
        int side = Math.max(w, h);
        int s = spec.size();
        int[] rgb = rgbPixels(image);
        // torch computes the scale as input/output in float; source index = scale*(dst+0.5)-0.5, clamped at 0
        float scale = (float) side / s;
        int[] i0 = new int[s], i1 = new int[s];
        float[] lambda = new float[s];
        for (int d = 0; d < s; d++) {
            float src = scale * (d + 0.5f) - 0.5f;
            if (src < 0) src = 0;
            int a = (int) src;
            if (a > side - 1) a = side - 1;
            i0[d] = a;
            i1[d] = a < side - 1 ? a + 1 : a;
            lambda[d] = Math.min(1f, src - a);
        }
        float[] pad = spec.padValue();
        float[] out = new float[3 * s * s];
        int plane = s * s;
        float[] p00 = new float[3], p01 = new float[3], p10 = new float[3], p11 = new float[3];
        for (int oy = 0; oy < s; oy++) {
            float ly = lambda[oy];
            for (int ox = 0; ox < s; ox++) {
                float lx = lambda[ox];
                sample(rgb, w, h, i0[ox], i0[oy], pad, p00);
                sample(rgb, w, h, i1[ox], i0[oy], pad, p01);
                sample(rgb, w, h, i0[ox], i1[oy], pad, p10);
                sample(rgb, w, h, i1[ox], i1[oy], pad, p11);
                for (int c = 0; c < 3; c++) {
                    float top = (1 - lx) * p00[c] + lx * p01[c];
                    float bottom = (1 - lx) * p10[c] + lx * p11[c];
                    float v = (1 - ly) * top + ly * bottom;
                    out[c * plane + oy * s + ox] = (v - spec.mean()[c]) / spec.std()[c];
                }
            }
        }
        return out;
    }

    /**
     * The image's pixels as 0xRRGGBB ints, row by row: an ImageDecoder image's own array, read in place; getRGB's copy
     * of any other image (the same values in the low 24 bits, the only ones read).
     */
    private static int[] rgbPixels(BufferedImage image) {
        int w = image.getWidth(), h = image.getHeight();
        Raster raster = image.getRaster();
        if (image.getType() == BufferedImage.TYPE_INT_RGB
                && raster.getSampleModel() instanceof SinglePixelPackedSampleModel sm && sm.getScanlineStride() == w
                && raster.getDataBuffer() instanceof DataBufferInt buffer && buffer.getOffset() == 0
                && raster.getSampleModelTranslateX() == 0 && raster.getSampleModelTranslateY() == 0) {
            return buffer.getData();
        }
        return image.getRGB(0, 0, w, h, null, 0, w);
    }

    private static void sample(int[] rgb, int w, int h, int x, int y, float[] pad, float[] dst) {
        if (x < w && y < h) {
            int p = rgb[y * w + x];
            dst[0] = ((p >> 16) & 0xFF) / 255f;
            dst[1] = ((p >> 8) & 0xFF) / 255f;
            dst[2] = (p & 0xFF) / 255f;
        } else {
            dst[0] = pad[0];
            dst[1] = pad[1];
            dst[2] = pad[2];
        }
    }
}

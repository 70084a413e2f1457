package org.groundchat.inference.nextchat;

import java.awt.image.BufferedImage;

/**
 * The two image tensors of contract 3, as the reference builds them with PIL: the CLIP input (bicubic to
 * image.size, /255, CLIP mean/std) and the SAM input (bilinear to mask_image.size, mean/std on 0..255), both from
 * the same centred white square. The resized pixels are uint8 first (Pillow rounds and clamps), then normalized in
 * float32 as numpy does.
 */
final class NextChatPixels {
    private NextChatPixels() {}

    /** How one tensor is made: target side, filter, scale applied before mean/std, and per-channel mean/std. */
    record Recipe(int size, PilResize.Filter filter, float scale, float[] mean, float[] std) {}

    /** The centred square as interleaved RGB 0..255 (white padding). */
    static int[] square(BufferedImage image, SquareFrame f) {
        int s = f.side();
        int[] out = new int[s * s * 3];
        java.util.Arrays.fill(out, 255);
        int w = f.width(), h = f.height();
        int[] row = new int[w];
        for (int y = 0; y < h; y++) {
            image.getRGB(0, y, w, 1, row, 0, w);
            int base = ((y + f.offsetY()) * s + f.offsetX()) * 3;
            for (int x = 0; x < w; x++) {
                int p = row[x];
                out[base + x * 3] = (p >> 16) & 0xff;
                out[base + x * 3 + 1] = (p >> 8) & 0xff;
                out[base + x * 3 + 2] = p & 0xff;
            }
        }
        return out;
    }

    /** The resized uint8 square (interleaved RGB), before normalization; tests compare it with Pillow's. */
    static int[] resized(int[] square, int side, Recipe r) {
        return PilResize.resize(square, side, side, r.size(), r.size(), r.filter());
    }

    /** NCHW float tensor [1,3,size,size] of a resized square. */
    static float[] normalize(int[] resized, Recipe r) {
        int n = r.size() * r.size();
        float[] out = new float[3 * n];
        for (int c = 0; c < 3; c++) {
            // numpy: (a * scale - mean) / std in float32, a the uint8 value as float32 (scale 1/255 is a division)
            float mean = r.mean()[c], std = r.std()[c];
            for (int i = 0; i < n; i++) {
                float v = r.scale() == 1f ? resized[i * 3 + c] : resized[i * 3 + c] / 255f;
                out[c * n + i] = (v - mean) / std;
            }
        }
        return out;
    }
}

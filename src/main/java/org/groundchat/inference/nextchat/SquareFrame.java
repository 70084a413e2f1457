package org.groundchat.inference.nextchat;

import org.groundchat.inference.PixelBox;

/**
 * The padded square NExT-Chat sees (Shikra's Expand2square): the image centred on a white square of side max(w, h),
 * offsets rounded down. Boxes are normalized to this square, so it converts between them and image pixels.
 *
 * <p>Why not {@code BoxGeometry}: that one pads at the right and bottom (contracts 1 and 2); contract 3 centres.
 */
record SquareFrame(int width, int height, int side, int offsetX, int offsetY) {

    static SquareFrame of(int width, int height) {
        int side = Math.max(width, height);
        return new SquareFrame(width, height, side, (side - width) / 2, (side - height) / 2);
    }

    /** A raw model box (normalized to the square, may be unordered or in the padding) in image pixels, clipped. */
    PixelBox toPixels(float[] box) {
        double x1 = box[0] * (double) side - offsetX, x2 = box[2] * (double) side - offsetX;
        double y1 = box[1] * (double) side - offsetY, y2 = box[3] * (double) side - offsetY;
        return new PixelBox(clamp(Math.min(x1, x2), width), clamp(Math.min(y1, y2), height),
                clamp(Math.max(x1, x2), width), clamp(Math.max(y1, y2), height));
    }

    /** An image-pixel box (a user's region, a stored slot box) as the model's normalized x1y1x2y2. */
    float[] toNormalized(PixelBox box) {
        return new float[] {(float) ((box.x1() + offsetX) / side), (float) ((box.y1() + offsetY) / side),
                (float) ((box.x2() + offsetX) / side), (float) ((box.y2() + offsetY) / side)};
    }

    private static double clamp(double v, double hi) { return Math.max(0.0, Math.min(hi, v)); }
}

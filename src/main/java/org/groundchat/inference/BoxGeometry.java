package org.groundchat.inference;

/**
 * Conversions between image pixels and the model's normalized boxes. The model sees the image padded at the
 * right/bottom to a square of side max(w,h), so normalized = pixel / max(w,h) on both axes.
 */
public final class BoxGeometry {
    private BoxGeometry() {}

    public static double side(int width, int height) { return Math.max(width, height); }

    /** Normalized box (may lie partly in the padding) to pixels, clipped to the image. */
    public static PixelBox toPixels(float[] normalized, int width, int height) {
        double s = side(width, height);
        double x1 = clamp(normalized[0] * s, 0, width), y1 = clamp(normalized[1] * s, 0, height);
        double x2 = clamp(normalized[2] * s, 0, width), y2 = clamp(normalized[3] * s, 0, height);
        return new PixelBox(Math.min(x1, x2), Math.min(y1, y2), Math.max(x1, x2), Math.max(y1, y2));
    }

    /** A point given in normalized square coordinates to pixels, clipped to the image. */
    public static double[] pointToPixels(float x, float y, int width, int height) {
        double s = side(width, height);
        return new double[] {clamp(x * s, 0, width), clamp(y * s, 0, height)};
    }

    public static float[] toNormalized(PixelBox box, int width, int height) {
        double s = side(width, height);
        return new float[] {(float) (box.x1() / s), (float) (box.y1() / s), (float) (box.x2() / s),
                (float) (box.y2() / s)};
    }

    /**
     * Checks a caller-supplied box (a user region or a stored slot box). Throws with a readable reason when it is
     * NaN/infinite, inverted or outside the image. A tolerance of half a pixel absorbs rounding of stored boxes.
     */
    public static void requireInside(PixelBox box, int width, int height, String what) {
        double[] v = box.toArray();
        for (double d : v) {
            if (!Double.isFinite(d)) throw new InferenceException(what + " has a coordinate that is not a number: " + fmt(box));
        }
        if (box.x2() < box.x1() || box.y2() < box.y1()) {
            throw new InferenceException(what + " is inverted (x2 < x1 or y2 < y1): " + fmt(box));
        }
        double tol = 0.5;
        if (box.x1() < -tol || box.y1() < -tol || box.x2() > width + tol || box.y2() > height + tol) {
            throw new InferenceException(what + " " + fmt(box) + " lies outside the " + width + "x" + height + " image");
        }
    }

    static String fmt(PixelBox b) {
        return String.format(java.util.Locale.ROOT, "[%.1f, %.1f, %.1f, %.1f]", b.x1(), b.y1(), b.x2(), b.y2());
    }

    static double clamp(double v, double lo, double hi) { return Math.max(lo, Math.min(hi, v)); }
}

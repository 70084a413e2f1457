package org.groundchat.inference;

/**
 * A binary mask over the whole original image, run-length encoded in row-major order:
 * counts alternate runs of 0 and 1, starting with a (possibly empty) run of 0.
 */
public record MaskRle(int height, int width, int[] counts) {

    public long area() {
        long a = 0;
        for (int i = 1; i < counts.length; i += 2) a += counts[i];
        return a;
    }
}

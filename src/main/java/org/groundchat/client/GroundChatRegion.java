package org.groundchat.client;

import java.util.List;

/**
 * A region of a remote answer: the phrase that names it (and its character span in the answer text), its box in image
 * pixels, its mask as row-major run lengths over the image (starting with a run of 0s; empty when the server sent
 * none) and the points of the phrase's words.
 */
public record GroundChatRegion(int number, String phrase, int phraseStart, int phraseEnd, double[] box, int maskHeight,
                               int maskWidth, int[] maskCounts, List<WordPoint> points) {

    /** Where one word of the answer points in the image (pixels). */
    public record WordPoint(String word, int start, int end, double x, double y) {}
}

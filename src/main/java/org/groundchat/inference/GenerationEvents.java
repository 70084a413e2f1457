package org.groundchat.inference;

import java.util.List;

/** The events an answer produces, in the order they are announced. */
public final class GenerationEvents {
    private GenerationEvents() {}

    /**
     * A region found by the model at an {@code <at>} token. phraseStart/phraseEnd are char offsets of the phrase
     * in the answer's display text; label is the text inserted after the phrase (e.g. "[4]").
     */
    public record RegionEvent(int index, String label, PixelBox box, float[] normalizedBox, String phrase,
                              int phraseStart, int phraseEnd, int tokenIndex) {}

    /** The mask of region {@code regionIndex}; score is the model's predicted mask quality (0..1). */
    public record MaskEvent(int regionIndex, MaskRle mask, float score) {}

    /**
     * A generated word with the point the point head gives it (image pixels). regionIndex is the region whose
     * phrase contains the word, or -1.
     */
    public record WordPointEvent(int wordIndex, String word, int start, int end, double x, double y, int regionIndex) {}

    /** Milliseconds spent in each stage of one answer. */
    public record Timings(double encodeMs, double prefillMs, double firstTokenMs, double decodeMs, double boxMs,
                          double maskMs, double pointMs, double totalMs) {}

    public enum FinishReason { STOP, LENGTH, CANCELLED }

    /** The finished answer: display text (with labels), the model text to feed back in later turns, and all events. */
    public record GenerationResult(String displayText, String modelText, List<RegionEvent> regions,
                                   List<MaskEvent> masks, List<WordPointEvent> points, Timings timings,
                                   int promptTokens, int completionTokens, FinishReason finishReason) {
        /** Boxes of the model text's {@code <boxes>} slots, in order, for feeding this answer back. */
        public List<PixelBox> slotBoxes() {
            return regions.stream().map(RegionEvent::box).toList();
        }
    }
}

package org.groundchat.inference.nextchat;

import java.util.ArrayList;
import java.util.List;
import org.groundchat.inference.BpeStreamingDecoder;
import org.groundchat.inference.BpeTokenizer;

/**
 * The display text of an answer, built token by token. NExT-Chat writes a region as {@code phrase<at><boxes>}
 * (no {@code <p>} markup): the markup never shows, the region's label takes the {@code <boxes>} slot's place, and
 * the phrase is the word just before {@code <at>}. The model text (fed back in later turns) is the tokenizer's
 * decoding of all answer ids, markup included, as the reference's answer text is.
 *
 * <p>Streaming goes through one {@link BpeStreamingDecoder} over all ids: LLaMA's decoder strips the first space of
 * the whole text only, and byte tokens of one character are held back until it is complete.
 */
final class NextChatText {
    /** A phrase's char span in the display text. */
    record Phrase(String text, int start, int end) {}

    private final BpeTokenizer tok;
    private final BpeStreamingDecoder stream;
    private final String atText, boxesText;
    private final StringBuilder display = new StringBuilder();
    private final List<Integer> ids = new ArrayList<>();
    private boolean trailingSlot;

    NextChatText(BpeTokenizer tok, int at, int boxes) {
        this.tok = tok;
        this.stream = new BpeStreamingDecoder(tok);
        this.atText = tok.token(at);
        this.boxesText = tok.token(boxes);
    }

    /** Adds a word token; returns the visible delta (may be ""). */
    String word(int id) {
        String delta = add(id);
        display.append(delta);
        return delta;
    }

    /** Adds {@code <at>}: shows nothing but what it released; returns that and the phrase it closes. */
    String at(int id) {
        String delta = add(id);
        String visible = strip(delta, atText);
        display.append(visible);
        return visible;
    }

    /** The phrase of a region: the last word before {@code <at>} (empty at the current position if none). */
    Phrase phrase() {
        int end = display.length();
        while (end > 0 && Character.isWhitespace(display.charAt(end - 1))) end--;
        int start = end;
        while (start > 0 && !Character.isWhitespace(display.charAt(start - 1))) start--;
        return new Phrase(display.substring(start, end), start, end);
    }

    /** Adds the forced {@code <boxes>} and the region's label in its place; returns the visible delta. */
    String boxes(int id, String label) {
        String delta = add(id);
        String visible = strip(delta, boxesText) + (display.length() == 0 ? label : " " + label);
        display.append(visible);
        return visible;
    }

    /**
     * The answer ran out of tokens right after {@code <at>}: the region exists (box and mask were made, as the
     * reference makes them) but its {@code <boxes>} was never generated. The label still shows, and the model text
     * ends with the slot so that a later turn's prompt has a place for the region's box ({@code slotBoxes()}).
     */
    String closeSlot(String label) {
        trailingSlot = true;
        String visible = display.length() == 0 ? label : " " + label;
        display.append(visible);
        return visible;
    }

    /** Text still held back (an incomplete byte sequence shows as U+FFFD). */
    String finish() {
        String delta = stream.finish();
        display.append(delta);
        return delta;
    }

    String display() { return display.toString(); }

    /**
     * The whole decoding of all ids. Not the streamed deltas joined: where random or broken output has invalid byte
     * runs, decoding in pieces can place the U+FFFD replacements differently from one decoding of everything.
     */
    String model() {
        return tok.decode(ids.stream().mapToInt(Integer::intValue).toArray()) + (trailingSlot ? boxesText : "");
    }

    private String add(int id) {
        ids.add(id);
        return stream.add(id);
    }

    private static String strip(String delta, String markup) {
        return delta.endsWith(markup) ? delta.substring(0, delta.length() - markup.length()) : delta;
    }
}

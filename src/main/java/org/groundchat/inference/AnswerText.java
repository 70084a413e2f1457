package org.groundchat.inference;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Builds the text a person sees from generated tokens, one token at a time. Markup never shows:
 * {@code <p> the red star </p> <at> <boxes> .} reads "the red star [4]." — the phrase keeps its character span
 * and the region's label is inserted where its {@code <boxes>} slot was. Punctuation attaches to the word before.
 * Alongside it keeps the model text (token strings joined by spaces) that later turns feed back.
 */
final class AnswerText {
    private static final Set<String> PUNCTUATION = Set.of(",", ".", "?", ":", "!", ";");

    /** A visible word: its char span in the display text and the delta that showed it (with its space). */
    record Word(String text, int start, int end, String delta) {}

    /** A closed phrase waiting for its region, or an empty one when the model located without a phrase. */
    record Phrase(String text, int start, int end) {}

    private final StringBuilder display = new StringBuilder();
    private final List<String> modelTokens = new ArrayList<>();
    private int phraseStartMarker = -1;
    private Phrase pending;

    /** Appends a word token (not markup); returns the visible delta and the word's span. */
    Word word(String token) {
        modelTokens.add(token);
        boolean punct = PUNCTUATION.contains(token);
        String delta = (display.length() == 0 || punct) ? token : " " + token;
        display.append(delta);
        int end = display.length();
        return new Word(token, end - token.length(), end, delta);
    }

    /** Adds a markup token that shows nothing ({@code <p>}, {@code </p>}, {@code <at>}). */
    void markup(String token, boolean open, boolean close) {
        modelTokens.add(token);
        if (open) {
            pending = null;
            phraseStartMarker = display.length();
        }
        if (close && phraseStartMarker >= 0) {
            int start = phraseStartMarker;
            // the phrase begins at its first word, after the space that separates it from earlier text
            while (start < display.length() && display.charAt(start) == ' ') start++;
            pending = new Phrase(display.substring(start), start, display.length());
            phraseStartMarker = -1;
        }
    }

    /** The phrase the next region belongs to (empty at the current position if the model gave none). */
    Phrase takePhrase() {
        Phrase p = pending != null ? pending : new Phrase("", display.length(), display.length());
        pending = null;
        return p;
    }

    /** Appends a region label for a {@code <boxes>} slot; returns the visible delta. */
    String label(String boxesToken, String label) {
        modelTokens.add(boxesToken);
        String delta = display.length() == 0 ? label : " " + label;
        display.append(delta);
        return delta;
    }

    int length() { return display.length(); }

    String display() { return display.toString(); }

    String modelText() { return String.join(" ", modelTokens); }
}

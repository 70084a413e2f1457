package org.groundchat.inference;

/**
 * Turns generated ids into text deltas for streaming. A BPE token is not a word: "▁the" carries its space, an emoji
 * comes as four {@code <0xNN>} tokens, and LLaMA's decoder strips the first space of the whole text. So the text so
 * far is decoded again after each id and only the new suffix is emitted; a suffix ending in U+FFFD (an incomplete
 * UTF-8 sequence of byte tokens) is held back until the next id completes it (or {@link #finish} gives it up).
 *
 * <p>Decoding everything again is quadratic in the answer length, which is bounded by max_new_tokens (hundreds).
 */
public final class BpeStreamingDecoder {
    private final BpeTokenizer tokenizer;
    private final BpeIds ids = new BpeIds();
    private int emitted; // chars of the decoded text already handed out

    public BpeStreamingDecoder(BpeTokenizer tokenizer) { this.tokenizer = tokenizer; }

    /** Adds one generated id; returns the text that became final with it (often "", never null). */
    public String add(int id) {
        ids.add(id);
        String text = tokenizer.decode(ids.toArray());
        if (text.endsWith("\uFFFD")) return "";
        return take(text);
    }

    /** The text still held back (an incomplete byte sequence at the end shows as U+FFFD). */
    public String finish() { return take(tokenizer.decode(ids.toArray())); }

    private String take(String text) {
        if (text.length() <= emitted) return "";
        String delta = text.substring(emitted);
        emitted = text.length();
        return delta;
    }
}

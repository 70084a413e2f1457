package org.groundchat.inference;

import java.nio.charset.StandardCharsets;

/**
 * GPT-2's byte-to-unicode table, used by byte-level BPE (GPT-2, LLaMA-3): every byte of the UTF-8 text becomes one
 * printable character, so the vocabulary never needs an unknown token. Printable Latin-1 bytes map to themselves,
 * the other 68 bytes to U+0100 and up, in byte order.
 */
final class BpeByteLevel {
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
            char c = printable ? (char) b : (char) (256 + extra++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private BpeByteLevel() {}

    /** The text's UTF-8 bytes, each written as its table character. */
    static String encode(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        StringBuilder sb = new StringBuilder(bytes.length);
        for (byte b : bytes) sb.append(BYTE_TO_CHAR[b & 0xff]);
        return sb.toString();
    }

    /**
     * Back to bytes, as Rust's ByteLevel decoder: a token with a character outside the table keeps its own UTF-8
     * bytes (added tokens such as {@code <at>} are plain ASCII and map to themselves either way).
     */
    static void appendBytes(String token, java.io.ByteArrayOutputStream out) {
        byte[] mapped = new byte[token.length()];
        for (int i = 0; i < token.length(); i++) {
            char c = token.charAt(i);
            int b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
            if (b < 0) {
                out.writeBytes(token.getBytes(StandardCharsets.UTF_8));
                return;
            }
            mapped[i] = (byte) b;
        }
        out.writeBytes(mapped);
    }
}

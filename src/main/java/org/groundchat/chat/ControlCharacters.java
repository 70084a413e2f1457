package org.groundchat.chat;

/** Control characters in what people type: NUL cannot be stored in PostgreSQL text at all, the others mean a broken client. */
final class ControlCharacters {
    private ControlCharacters() {}

    /** Any C0 control or DEL: nothing of the kind belongs in a one-line name. */
    static boolean in(String s) {
        return s.chars().anyMatch(ControlCharacters::isControl);
    }

    /** The same, but line breaks and tabs are text in a message. */
    static boolean inMessage(String s) {
        return s.chars().anyMatch(ch -> isControl(ch) && ch != '\n' && ch != '\r' && ch != '\t');
    }

    private static boolean isControl(int ch) {
        return ch < 0x20 || ch == 0x7f;
    }
}

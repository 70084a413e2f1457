package org.groundchat.api;

import java.util.regex.Pattern;

/** Parser messages made fit for an error reason: people read them, so no Java type names and no stack of lines. */
public final class Reasons {
    /** A qualified Java type name, optionally in backticks, with generic arguments and nested-class parts. */
    private static final Pattern TYPE_NAME =
            Pattern.compile("`?\\b(?:[a-z_$][\\w$]*\\.)+[A-Z][\\w$]*(?:\\$[\\w$]+)*(?:<[^>`]*>)?`?");
    private static final Pattern CLASS_NOTE = Pattern.compile("\\s*\\(class [^)]*\\)");

    private Reasons() {}

    public static String fromParser(String message) {
        if (message == null || message.isBlank()) return "malformed";
        int nl = message.indexOf('\n');
        String first = nl > 0 ? message.substring(0, nl) : message;
        return TYPE_NAME.matcher(CLASS_NOTE.matcher(first).replaceAll("")).replaceAll("a value").strip();
    }
}

package org.groundchat.chat;

import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parser messages made fit for an error reason: people read them, so no Java type names and no stack of lines. */
public final class Reasons {
    /** A qualified Java type name, optionally in backticks, with generic arguments and nested-class parts. */
    private static final Pattern TYPE_NAME =
            Pattern.compile("`?\\b(?:[a-z_$][\\w$]*\\.)+[A-Z][\\w$]*(?:\\$[\\w$]+)*(?:<[^>`]*>)?`?");
    private static final Pattern CLASS_NOTE = Pattern.compile("\\s*\\(class [^)]*\\)");
    /** Jackson's notes about itself: "(token `JsonToken.START_ARRAY`)", ", from `StreamReadConstraints...()`". */
    private static final Pattern PARSER_NOTE = Pattern.compile("\\s*\\(token `[^`]*`\\)|,? from `[^`]*`");
    /** "Cannot deserialize value of type `java.lang.String` from Array value": what was expected and what came. */
    private static final Pattern WRONG_TYPE = Pattern.compile(
            "Cannot deserialize value of type `([^`]+)` from (Array value|Object value|String (\"[^\"]*\")|"
                    + "Integer value|Floating-point value|Boolean value|\\w+ value)[^:]*(?::.*)?");
    private static final Map<String, String> EXPECTED = Map.ofEntries(
            Map.entry("java.lang.String", "text"), Map.entry("java.lang.Double", "a number"),
            Map.entry("double", "a number"), Map.entry("java.lang.Integer", "a whole number"),
            Map.entry("int", "a whole number"), Map.entry("java.lang.Long", "a whole number"),
            Map.entry("long", "a whole number"), Map.entry("java.lang.Boolean", "true or false"),
            Map.entry("boolean", "true or false"), Map.entry("java.util.UUID", "an id"));

    private Reasons() {}

    public static String fromParser(String message) {
        if (message == null || message.isBlank()) return "malformed";
        int nl = message.indexOf('\n');
        String first = nl > 0 ? message.substring(0, nl) : message;
        first = PARSER_NOTE.matcher(first).replaceAll("");
        Matcher wrong = WRONG_TYPE.matcher(first);
        if (wrong.find()) first = "expected " + expected(wrong.group(1)) + ", got " + got(wrong.group(2), wrong.group(3));
        return TYPE_NAME.matcher(CLASS_NOTE.matcher(first).replaceAll("")).replaceAll("a value").strip();
    }

    private static String expected(String type) {
        if (type.startsWith("java.util.List") || type.startsWith("java.util.ArrayList") || type.endsWith("[]")) {
            return "a list";
        }
        return EXPECTED.getOrDefault(type, "an object");
    }

    private static String got(String source, String quoted) {
        if (quoted != null) return "text " + quoted;
        return switch (source) {
            case "Array value" -> "a list";
            case "Object value" -> "an object";
            case "Integer value", "Floating-point value" -> "a number";
            case "Boolean value" -> "true or false";
            default -> "another kind of value";
        };
    }
}

package org.groundchat.api;

import org.groundchat.chat.ChatException;

/**
 * Integer query parameters read by hand: a framework-converted {@code int} answers "abc" with a bare 404, and a person
 * needs to hear which parameter was wrong and what range it takes.
 */
final class QueryInts {
    private QueryInts() {}

    /** The parameter's value, its default when absent or blank, or a 400 {@code invalid_NAME} naming the range. */
    static int parse(String raw, int defaultValue, String name, int min, int max) {
        if (raw == null || raw.isBlank()) return defaultValue;
        try {
            int v = Integer.parseInt(raw.strip());
            if (v >= min && v <= max) return v;
        } catch (NumberFormatException e) {
            // falls through to the same answer as an out-of-range number
        }
        throw ChatException.badRequest("invalid_" + name, name + " must be a whole number between " + min + " and " + max + ".");
    }
}

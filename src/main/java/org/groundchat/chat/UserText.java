package org.groundchat.chat;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Resolves region references in a user's text. {@code [n]} names an earlier region of the conversation, {@code #k}
 * the k-th region drawn in this turn (numbered now, from {@code firstNewNumber}). Each reference becomes a
 * {@code <boxes>} slot in the model text; drawn regions the text does not mention are appended at the end.
 */
public final class UserText {
    private static final Pattern REF = Pattern.compile("\\[(\\d{1,9})]|#(\\d{1,9})");

    /** display: what people see ([n] everywhere); model: the model's text; slots: region number per slot. */
    public record Resolved(String display, String model, List<Integer> slots) {}

    static final int MAX_TEXT = 2000;

    private UserText() {}

    /**
     * A message's text as it may be stored: stripped, not empty, at most MAX_TEXT characters, no control characters
     * other than line breaks and tabs. Throws 400 (nothing stored) otherwise.
     */
    public static String checked(String text) {
        String t = text == null ? "" : text.strip();
        if (t.isEmpty()) throw ChatException.badRequest("empty_text", "The message text is empty.");
        if (t.length() > MAX_TEXT) {
            throw ChatException.badRequest("text_too_long", "The message has " + t.length() + " characters; the limit is " + MAX_TEXT + ".");
        }
        if (ControlCharacters.inMessage(t)) throw ChatException.badRequest("invalid_text", "The message contains control characters.");
        return t;
    }

    /**
     * Text replayed from a client's history (OpenAI-style requests): shown as sent, read by the model as plain words.
     * Its [n] and #k are not resolved: the regions they named belong to a conversation this server never stored.
     */
    public static Resolved literal(String text) {
        return new Resolved(text, plain(text).replaceAll("\\s+", " ").strip(), List.of());
    }

    /** The earlier regions a text names ([n]): the only ones {@link #resolve} needs to know exist. */
    public static Set<Integer> referencedNumbers(String text) {
        Set<Integer> numbers = new java.util.TreeSet<>();
        Matcher m = REF.matcher(text);
        while (m.find()) if (m.group(1) != null) numbers.add(Integer.parseInt(m.group(1)));
        return numbers;
    }

    /** User text never carries markup into the model: a typed "<at>" must not act as the trigger token. */
    private static String plain(String s) {
        return s.replace('<', ' ').replace('>', ' ');
    }

    public static Resolved resolve(String text, int drawn, int firstNewNumber, Set<Integer> existing) {
        StringBuilder display = new StringBuilder(), model = new StringBuilder();
        List<Integer> slots = new ArrayList<>();
        boolean[] mentioned = new boolean[drawn];
        Matcher m = REF.matcher(text);
        int last = 0;
        while (m.find()) {
            display.append(text, last, m.start());
            model.append(plain(text.substring(last, m.start())));
            int number;
            if (m.group(1) != null) {
                number = Integer.parseInt(m.group(1));
                if (!existing.contains(number)) {
                    throw ChatException.notFound("unknown_region", "Region [" + number + "] does not exist in this conversation.");
                }
            } else {
                int k = Integer.parseInt(m.group(2));
                if (k < 1 || k > drawn) {
                    throw ChatException.badRequest("invalid_region_reference", "#" + k + " refers to a drawn region, but "
                            + drawn + " region(s) were drawn in this message.");
                }
                mentioned[k - 1] = true;
                number = firstNewNumber + k - 1;
            }
            display.append('[').append(number).append(']');
            model.append(" <boxes> ");
            slots.add(number);
            last = m.end();
        }
        display.append(text.substring(last));
        model.append(plain(text.substring(last)));
        for (int k = 0; k < drawn; k++) {
            if (mentioned[k]) continue;
            display.append(" [").append(firstNewNumber + k).append(']');
            model.append(" <boxes>");
            slots.add(firstNewNumber + k);
        }
        return new Resolved(display.toString().strip(), model.toString().replaceAll("\\s+", " ").strip(), slots);
    }
}

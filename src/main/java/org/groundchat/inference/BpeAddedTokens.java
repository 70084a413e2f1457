package org.groundchat.inference;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * The {@code added_tokens} of a {@code tokenizer.json} (LLaMA's {@code <s> </s> <unk>}, NExT-Chat's {@code <image> <at>
 * <boxes>} ...): found in the text before the model runs and never split, as Rust's {@code AddedVocabulary} does.
 *
 * <p>Tokens with {@code normalized: false} are matched on the raw text; the text between them is normalized and then
 * searched for the {@code normalized: true} tokens (whose own content is normalized the same way). Each search takes
 * the leftmost match and, there, the longest token (Rust uses Aho-Corasick with LeftmostLongest).
 * {@code lstrip}/{@code rstrip} swallow the whitespace before/after the token; {@code single_word} only matches
 * between non-word characters.
 */
final class BpeAddedTokens {
    /** A piece of the input: an added token's id, or text for the pre-tokenizer and model. */
    record Piece(String text, int addedId, boolean atTextStart) {
        boolean isAdded() { return addedId >= 0; }
    }

    private record Added(String content, int id, boolean special, boolean lstrip, boolean rstrip, boolean singleWord,
                         boolean normalized) {}

    private final Map<Integer, Added> byId = new HashMap<>();
    private final Map<String, Integer> byContent = new HashMap<>();
    private final Set<Integer> specialIds = new HashSet<>();
    private final Map<Integer, List<Added>> rawByFirstChar = new HashMap<>();
    private final Map<Integer, List<Added>> normalizedByFirstChar = new HashMap<>();

    BpeAddedTokens(JsonNode addedTokens, UnaryOperator<String> normalizer) {
        for (JsonNode t : addedTokens) {
            Added a = new Added(t.path("content").asText(), t.path("id").asInt(), t.path("special").asBoolean(false),
                    t.path("lstrip").asBoolean(false), t.path("rstrip").asBoolean(false),
                    t.path("single_word").asBoolean(false), t.path("normalized").asBoolean(!t.path("special").asBoolean(false)));
            if (a.content().isEmpty()) continue;
            byId.put(a.id(), a);
            byContent.put(a.content(), a.id());
            if (a.special()) specialIds.add(a.id());
            if (a.normalized()) {
                String content = normalizer.apply(a.content());
                index(normalizedByFirstChar, new Added(content, a.id(), a.special(), a.lstrip(), a.rstrip(), a.singleWord(), true));
            } else {
                index(rawByFirstChar, a);
            }
        }
        Comparator<Added> longestFirst = Comparator.comparingInt((Added a) -> a.content().length()).reversed();
        rawByFirstChar.values().forEach(l -> l.sort(longestFirst));
        normalizedByFirstChar.values().forEach(l -> l.sort(longestFirst));
    }

    private static void index(Map<Integer, List<Added>> byFirst, Added a) {
        if (!a.content().isEmpty()) byFirst.computeIfAbsent(a.content().codePointAt(0), k -> new ArrayList<>()).add(a);
    }

    Integer id(String content) { return byContent.get(content); }

    String content(int id) {
        Added a = byId.get(id);
        return a == null ? null : a.content();
    }

    boolean isSpecial(int id) { return specialIds.contains(id); }

    boolean contains(int id) { return byId.containsKey(id); }

    int maxId() { return byId.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1); }

    /** Splits the raw text on added tokens and normalizes the text between them. */
    List<Piece> split(String text, UnaryOperator<String> normalizer) {
        List<Piece> out = new ArrayList<>();
        for (Piece raw : split(text, rawByFirstChar, true)) {
            if (raw.isAdded()) {
                out.add(raw);
                continue;
            }
            String normalized = normalizer.apply(raw.text());
            if (normalized.isEmpty()) continue;
            for (Piece p : split(normalized, normalizedByFirstChar, raw.atTextStart())) out.add(p);
        }
        return out;
    }

    private static List<Piece> split(String text, Map<Integer, List<Added>> byFirst, boolean textStartsAtOrigin) {
        List<Piece> out = new ArrayList<>();
        if (byFirst.isEmpty()) {
            out.add(new Piece(text, -1, textStartsAtOrigin));
            return out;
        }
        int plainStart = 0;
        int i = 0;
        while (i < text.length()) {
            Added match = longestAt(text, i, byFirst);
            if (match == null) {
                i += Character.charCount(text.codePointAt(i));
                continue;
            }
            int start = i, end = i + match.content().length();
            if (match.lstrip()) while (start > plainStart && Character.isWhitespace(text.codePointBefore(start))) start--;
            if (match.rstrip()) while (end < text.length() && Character.isWhitespace(text.codePointAt(end))) end++;
            if (start > plainStart) out.add(new Piece(text.substring(plainStart, start), -1, textStartsAtOrigin && plainStart == 0));
            out.add(new Piece(match.content(), match.id(), textStartsAtOrigin && start == 0));
            plainStart = i = end;
        }
        if (plainStart < text.length()) out.add(new Piece(text.substring(plainStart), -1, textStartsAtOrigin && plainStart == 0));
        return out;
    }

    private static Added longestAt(String text, int i, Map<Integer, List<Added>> byFirst) {
        List<Added> candidates = byFirst.get(text.codePointAt(i));
        if (candidates == null) return null;
        for (Added a : candidates) {
            if (!text.startsWith(a.content(), i)) continue;
            int end = i + a.content().length();
            boolean alone = (i == 0 || !isWordChar(text.codePointBefore(i)))
                    && (end == text.length() || !isWordChar(text.codePointAt(end)));
            if (a.singleWord() && !alone) return null;
            return a;
        }
        return null;
    }

    private static boolean isWordChar(int c) {
        return Character.isLetterOrDigit(c) || c == '_' || Character.getType(c) == Character.NON_SPACING_MARK;
    }
}

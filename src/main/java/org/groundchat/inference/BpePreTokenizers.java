package org.groundchat.inference;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code pre_tokenizer} section of a {@code tokenizer.json}: splits a text segment into the words the BPE model
 * merges within. Covers what LLaMA-family files use: none (LLaMA-1/2 legacy: the whole segment is one word),
 * Metaspace (newer LLaMA-2/Mistral exports), ByteLevel (GPT-2), Split + ByteLevel (LLaMA-3), Digits, Sequence.
 */
final class BpePreTokenizers {
    /** One pre-tokenizer step; {@code atTextStart}: the piece begins at offset 0 of the input (Metaspace "first"). */
    interface Step {
        List<String> split(String text, boolean atTextStart);
    }

    /** GPT-2's split, which Rust's ByteLevel pre-tokenizer applies when {@code use_regex} is true. */
    static final Pattern GPT2_SPLIT = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);

    private BpePreTokenizers() {}

    static Step of(JsonNode n) {
        if (n == null || n.isMissingNode() || n.isNull()) return (s, first) -> List.of(s);
        String type = n.path("type").asText();
        switch (type) {
            case "Sequence": {
                List<Step> steps = new ArrayList<>();
                for (JsonNode c : n.path("pretokenizers")) steps.add(of(c));
                return (s, first) -> {
                    List<String> pieces = List.of(s);
                    for (Step step : steps) {
                        List<String> next = new ArrayList<>();
                        for (int i = 0; i < pieces.size(); i++) next.addAll(step.split(pieces.get(i), first && i == 0));
                        pieces = next;
                    }
                    return pieces;
                };
            }
            case "Metaspace": return metaspace(n);
            case "ByteLevel": {
                boolean prefixSpace = n.path("add_prefix_space").asBoolean(true);
                boolean useRegex = n.path("use_regex").asBoolean(true);
                return (s, first) -> {
                    if (prefixSpace && !s.startsWith(" ")) s = " " + s;
                    List<String> words = useRegex ? split(GPT2_SPLIT, s, "Isolated", false) : List.of(s);
                    List<String> out = new ArrayList<>(words.size());
                    for (String w : words) out.add(BpeByteLevel.encode(w));
                    return out;
                };
            }
            case "Split": {
                JsonNode p = n.path("pattern");
                Pattern re = p.has("String") ? Pattern.compile(Pattern.quote(p.path("String").asText()))
                        : Pattern.compile(p.path("Regex").asText(), Pattern.UNICODE_CHARACTER_CLASS);
                String behavior = n.path("behavior").asText("Isolated");
                boolean invert = n.path("invert").asBoolean(false);
                return (s, first) -> split(re, s, behavior, invert);
            }
            case "Digits": {
                Pattern digits = Pattern.compile(n.path("individual_digits").asBoolean(false) ? "[\\p{N}]" : "[\\p{N}]+");
                return (s, first) -> split(digits, s, "Isolated", false);
            }
            default:
                throw new InferenceException("tokenizer.json: pre_tokenizer type '" + type + "' is not supported by BpeTokenizer");
        }
    }

    /** Spaces become the replacement ("▁"), which is prepended per prepend_scheme; split=true cuts before each one. */
    private static Step metaspace(JsonNode n) {
        String replacement = n.path("replacement").asText("\u2581");
        String scheme = n.has("prepend_scheme") ? n.path("prepend_scheme").asText()
                : n.path("add_prefix_space").asBoolean(true) ? "always" : "never";
        boolean splitWords = n.path("split").asBoolean(true);
        Pattern delimiter = Pattern.compile(Pattern.quote(replacement));
        return (s, first) -> {
            String t = s.replace(" ", replacement);
            boolean prepend = "always".equals(scheme) || ("first".equals(scheme) && first);
            if (prepend && !t.startsWith(replacement)) t = replacement + t;
            return splitWords ? split(delimiter, t, "MergedWithNext", false) : List.of(t);
        };
    }

    /** Rust's {@code NormalizedString::split}: matches and the text between them, combined per behavior. */
    static List<String> split(Pattern re, String s, String behavior, boolean invert) {
        List<int[]> spans = new ArrayList<>(); // {start, end, isMatch}
        Matcher m = re.matcher(s);
        int last = 0;
        while (m.find()) {
            if (m.end() == m.start()) continue;
            if (m.start() > last) spans.add(new int[] {last, m.start(), invert ? 1 : 0});
            spans.add(new int[] {m.start(), m.end(), invert ? 0 : 1});
            last = m.end();
        }
        if (last < s.length()) spans.add(new int[] {last, s.length(), invert ? 1 : 0});
        List<int[]> merged = new ArrayList<>();
        switch (behavior) {
            case "Isolated": merged = spans; break;
            case "Removed": for (int[] sp : spans) if (sp[2] == 0) merged.add(sp); break;
            case "MergedWithPrevious": {
                boolean previousMatch = false;
                for (int[] sp : spans) {
                    if (sp[2] == 1 && !previousMatch && !merged.isEmpty()) merged.get(merged.size() - 1)[1] = sp[1];
                    else merged.add(sp.clone());
                    previousMatch = sp[2] == 1;
                }
                break;
            }
            case "MergedWithNext": { // the same, walking backwards: a match joins the piece after it
                boolean nextMatch = false;
                for (int i = spans.size() - 1; i >= 0; i--) {
                    int[] sp = spans.get(i);
                    if (sp[2] == 1 && !nextMatch && !merged.isEmpty()) merged.get(merged.size() - 1)[0] = sp[0];
                    else merged.add(sp.clone());
                    nextMatch = sp[2] == 1;
                }
                java.util.Collections.reverse(merged);
                break;
            }
            case "Contiguous": {
                boolean previousMatch = false;
                for (int[] sp : spans) {
                    if (sp[2] == 1 && previousMatch && !merged.isEmpty()) merged.get(merged.size() - 1)[1] = sp[1];
                    else merged.add(sp.clone());
                    previousMatch = sp[2] == 1;
                }
                break;
            }
            default:
                throw new InferenceException("tokenizer.json: Split behavior '" + behavior + "' is not supported");
        }
        List<String> out = new ArrayList<>(merged.size());
        for (int[] sp : merged) if (sp[1] > sp[0]) out.add(s.substring(sp[0], sp[1]));
        return out;
    }
}

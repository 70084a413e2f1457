package org.groundchat.inference;

import com.fasterxml.jackson.databind.JsonNode;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The {@code normalizer} section of a {@code tokenizer.json}, for the normalizers LLaMA-family files use. */
final class BpeNormalizers {
    private BpeNormalizers() {}

    static UnaryOperator<String> of(JsonNode n) {
        if (n == null || n.isMissingNode() || n.isNull()) return s -> s;
        String type = n.path("type").asText();
        switch (type) {
            case "Sequence": {
                List<UnaryOperator<String>> steps = new ArrayList<>();
                for (JsonNode c : n.path("normalizers")) steps.add(of(c));
                return s -> {
                    for (UnaryOperator<String> step : steps) s = step.apply(s);
                    return s;
                };
            }
            case "Prepend": { // LLaMA-1/2's "▁" before each text segment; Rust leaves an empty segment empty
                String prefix = n.path("prepend").asText();
                return s -> s.isEmpty() ? s : prefix + s;
            }
            case "Replace": return replace(n);
            case "NFC": return s -> Normalizer.normalize(s, Normalizer.Form.NFC);
            case "NFD": return s -> Normalizer.normalize(s, Normalizer.Form.NFD);
            case "NFKC": return s -> Normalizer.normalize(s, Normalizer.Form.NFKC);
            case "NFKD": return s -> Normalizer.normalize(s, Normalizer.Form.NFKD);
            case "Lowercase": return s -> s.toLowerCase(Locale.ROOT);
            case "Strip": {
                boolean left = n.path("strip_left").asBoolean(true), right = n.path("strip_right").asBoolean(true);
                return s -> left && right ? s.strip() : left ? s.stripLeading() : right ? s.stripTrailing() : s;
            }
            default:
                throw new InferenceException("tokenizer.json: normalizer type '" + type + "' is not supported by BpeTokenizer");
        }
    }

    /** Replace with a literal {@code String} or a {@code Regex} pattern; shared with the Replace decoder. */
    static UnaryOperator<String> replace(JsonNode n) {
        JsonNode p = n.path("pattern");
        String content = n.path("content").asText();
        if (p.has("String")) {
            String literal = p.path("String").asText();
            return s -> literal.isEmpty() ? s : s.replace(literal, content);
        }
        // Rust compiles these with Oniguruma; Java's Unicode classes agree on the patterns tokenizer files use
        Pattern re = Pattern.compile(p.path("Regex").asText(), Pattern.UNICODE_CHARACTER_CLASS);
        String replacement = Matcher.quoteReplacement(content);
        return s -> re.matcher(s).replaceAll(replacement);
    }
}

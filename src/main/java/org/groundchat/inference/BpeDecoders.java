package org.groundchat.inference;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * The {@code decoder} section of a {@code tokenizer.json}: each step maps the list of token strings to a new list,
 * as Rust's {@code Decoder::decode_chain}; the text is the final list joined.
 */
final class BpeDecoders {
    interface Step {
        List<String> decodeChain(List<String> tokens);
    }

    private BpeDecoders() {}

    static Step of(JsonNode n) {
        if (n == null || n.isMissingNode() || n.isNull()) return tokens -> List.of(String.join(" ", tokens));
        String type = n.path("type").asText();
        switch (type) {
            case "Sequence": {
                List<Step> steps = new ArrayList<>();
                for (JsonNode c : n.path("decoders")) steps.add(of(c));
                return tokens -> {
                    for (Step step : steps) tokens = step.decodeChain(tokens);
                    return tokens;
                };
            }
            case "Replace": {
                UnaryOperator<String> replace = BpeNormalizers.replace(n);
                return tokens -> tokens.stream().map(replace).toList();
            }
            case "Fuse": return tokens -> List.of(String.join("", tokens));
            case "Strip": return strip(n.path("content").asText(" ").codePointAt(0), n.path("start").asInt(0), n.path("stop").asInt(0));
            case "ByteFallback": return BpeDecoders::byteFallback;
            case "Metaspace": {
                // Rust drops every replacement character of the first token (not only the leading one)
                int replacement = n.path("replacement").asText("\u2581").codePointAt(0);
                String scheme = n.has("prepend_scheme") ? n.path("prepend_scheme").asText()
                        : n.path("add_prefix_space").asBoolean(true) ? "always" : "never";
                boolean dropInFirst = !"never".equals(scheme);
                return tokens -> {
                    List<String> out = new ArrayList<>(tokens.size());
                    for (int i = 0; i < tokens.size(); i++) {
                        StringBuilder sb = new StringBuilder();
                        boolean first = i == 0;
                        tokens.get(i).codePoints().forEach(c -> {
                            if (c != replacement) sb.appendCodePoint(c);
                            else if (!(first && dropInFirst)) sb.append(' ');
                        });
                        out.add(sb.toString());
                    }
                    return out;
                };
            }
            case "ByteLevel": return tokens -> {
                ByteArrayOutputStream bytes = new ByteArrayOutputStream();
                for (String t : tokens) BpeByteLevel.appendBytes(t, bytes);
                return List.of(new String(bytes.toByteArray(), StandardCharsets.UTF_8)); // lossy, like from_utf8_lossy
            };
            default:
                throw new InferenceException("tokenizer.json: decoder type '" + type + "' is not supported by BpeTokenizer");
        }
    }

    /** Removes up to {@code start} leading and {@code stop} trailing {@code content} characters of each token. */
    private static Step strip(int content, int start, int stop) {
        return tokens -> tokens.stream().map(t -> {
            int[] cps = t.codePoints().toArray();
            int from = 0, to = cps.length;
            while (from < start && from < cps.length && cps[from] == content) from++;
            for (int i = 0; i < stop && to > from && cps[to - 1] == content; i++) to--;
            return new String(cps, from, to - from);
        }).toList();
    }

    /** Runs of {@code <0xNN>} tokens become their UTF-8 text; an invalid run gives one U+FFFD per byte, as in Rust. */
    private static List<String> byteFallback(List<String> tokens) {
        List<String> out = new ArrayList<>(tokens.size());
        ByteArrayOutputStream run = new ByteArrayOutputStream();
        for (String t : tokens) {
            int b = byteToken(t);
            if (b >= 0) {
                run.write(b);
                continue;
            }
            flush(run, out);
            out.add(t);
        }
        flush(run, out);
        return out;
    }

    /** The byte of a {@code <0xNN>} token, or -1. */
    static int byteToken(String t) {
        if (t.length() != 6 || !t.startsWith("<0x") || t.charAt(5) != '>') return -1;
        int hi = Character.digit(t.charAt(3), 16), lo = Character.digit(t.charAt(4), 16);
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }

    private static void flush(ByteArrayOutputStream run, List<String> out) {
        if (run.size() == 0) return;
        byte[] bytes = run.toByteArray();
        run.reset();
        try {
            out.add(StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString());
        } catch (CharacterCodingException e) {
            out.add("\uFFFD".repeat(bytes.length));
        }
    }
}

package org.groundchat.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a Hugging Face {@code tokenizer.json} with a WordLevel model and reproduces its encoding.
 *
 * <p>Why not DJL's HuggingFace tokenizers binding: it is not among the project's dependencies (the Quarkus pom only
 * has ONNX Runtime and Jackson for this), it is absent from the offline Maven cache, and it extracts or downloads
 * a native library at run time, which this deployment (no network at run time) cannot rely on. A WordLevel
 * vocabulary is a plain word->id map, so the few normalizer/pre-tokenizer steps it uses are implemented here.
 *
 * <p>Supported: added tokens (matched first, on the raw text), normalizers Lowercase/NFC/NFD/NFKC/NFKD/Strip/
 * Replace/BertNormalizer/Sequence, pre-tokenizers Whitespace/WhitespaceSplit/Punctuation/Split/BertPreTokenizer/
 * Sequence. Anything else is rejected when the bundle is opened, never silently mis-tokenized.
 */
public final class WordLevelTokenizer {
    private final Map<String, Integer> vocab = new HashMap<>();
    private final Map<Integer, String> idToToken = new HashMap<>();
    private final List<String> addedTokens = new ArrayList<>();
    private final Integer unkId;
    private final UnaryOperator<String> normalizer;
    private final PreTokenizer preTokenizer;

    private interface PreTokenizer {
        List<String> split(String text);
    }

    public static WordLevelTokenizer load(Path tokenizerJson) {
        try {
            return new WordLevelTokenizer(new ObjectMapper().readTree(tokenizerJson.toFile()));
        } catch (IOException e) {
            throw new InferenceException("tokenizer.json cannot be read: " + e.getMessage(), e);
        }
    }

    WordLevelTokenizer(JsonNode root) {
        JsonNode model = root.path("model");
        if (!"WordLevel".equals(model.path("type").asText())) {
            throw new InferenceException("tokenizer.json: model.type must be WordLevel, found '"
                    + model.path("type").asText() + "'");
        }
        model.path("vocab").fields().forEachRemaining(e -> vocab.put(e.getKey(), e.getValue().asInt()));
        for (JsonNode t : root.path("added_tokens")) {
            String content = t.path("content").asText();
            int id = t.path("id").asInt();
            vocab.putIfAbsent(content, id);
            addedTokens.add(content);
        }
        if (vocab.isEmpty()) throw new InferenceException("tokenizer.json: the vocabulary is empty");
        vocab.forEach((k, v) -> idToToken.put(v, k));
        // longest first, so that e.g. "</p>" wins over a shorter token that is its prefix
        addedTokens.sort((a, b) -> Integer.compare(b.length(), a.length()));
        String unk = model.path("unk_token").asText("<unk>");
        unkId = vocab.get(unk);
        normalizer = normalizer(root.path("normalizer"));
        preTokenizer = preTokenizer(root.path("pre_tokenizer"));
    }

    public int vocabSize() { return idToToken.size(); }

    /** The id of an exact token string, or -1. */
    public int id(String token) {
        Integer id = vocab.get(token);
        return id == null ? -1 : id;
    }

    /** The token string of an id; "<unk>"-style placeholder text for ids outside the vocabulary. */
    public String token(int id) {
        String t = idToToken.get(id);
        return t == null ? "<id:" + id + ">" : t;
    }

    public boolean isAddedToken(int id) { return addedTokens.contains(idToToken.get(id)); }

    public List<String> tokens(String text) {
        List<String> out = new ArrayList<>();
        for (String piece : splitOnAddedTokens(text)) {
            if (addedTokens.contains(piece)) {
                out.add(piece);
                continue;
            }
            out.addAll(preTokenizer.split(normalizer.apply(piece)));
        }
        return out;
    }

    /**
     * Token ids of a text. Every turn's prompt re-encodes the whole conversation, so the ids of recent texts are
     * kept (a bounded LRU of texts up to 2000 characters, at most ~16 MB): under load, encoding the earlier messages
     * again was a tenth of the service's Java time.
     */
    public int[] encode(String text) {
        int[] ids;
        synchronized (recent) {
            ids = recent.get(text);
        }
        if (ids == null) {
            ids = encodeUncached(text);
            if (text.length() > RECENT_TEXT_CHARS) return ids;
            synchronized (recent) {
                recent.put(text, ids);
            }
        }
        return ids.clone();
    }

    private static final int RECENT_TEXTS = 4096, RECENT_TEXT_CHARS = 2000;
    private final Map<String, int[]> recent = new java.util.LinkedHashMap<>(256, 0.75f, true) {
        @Override protected boolean removeEldestEntry(Map.Entry<String, int[]> eldest) { return size() > RECENT_TEXTS; }
    };

    private int[] encodeUncached(String text) {
        List<String> toks = tokens(text);
        int[] ids = new int[toks.size()];
        for (int i = 0; i < ids.length; i++) {
            Integer id = vocab.get(toks.get(i));
            if (id == null) {
                if (unkId == null) throw new InferenceException("tokenizer.json has no unk_token and '" + toks.get(i) + "' is unknown");
                id = unkId;
            }
            ids[i] = id;
        }
        return ids;
    }

    /** Token strings joined by single spaces (the model-text form). */
    public String decode(int[] ids) {
        StringBuilder sb = new StringBuilder();
        for (int id : ids) {
            if (sb.length() > 0) sb.append(' ');
            sb.append(token(id));
        }
        return sb.toString();
    }

    private List<String> splitOnAddedTokens(String text) {
        List<String> out = new ArrayList<>();
        int start = 0, i = 0;
        outer:
        while (i < text.length()) {
            for (String t : addedTokens) {
                if (!t.isEmpty() && text.startsWith(t, i)) {
                    if (i > start) out.add(text.substring(start, i));
                    out.add(t);
                    i += t.length();
                    start = i;
                    continue outer;
                }
            }
            i++;
        }
        if (start < text.length()) out.add(text.substring(start));
        return out;
    }

    private static UnaryOperator<String> normalizer(JsonNode n) {
        if (n == null || n.isMissingNode() || n.isNull()) return s -> s;
        String type = n.path("type").asText();
        switch (type) {
            case "Lowercase": return s -> s.toLowerCase(Locale.ROOT);
            case "NFC": return s -> Normalizer.normalize(s, Normalizer.Form.NFC);
            case "NFD": return s -> Normalizer.normalize(s, Normalizer.Form.NFD);
            case "NFKC": return s -> Normalizer.normalize(s, Normalizer.Form.NFKC);
            case "NFKD": return s -> Normalizer.normalize(s, Normalizer.Form.NFKD);
            case "Strip": {
                boolean left = n.path("strip_left").asBoolean(true), right = n.path("strip_right").asBoolean(true);
                return s -> left && right ? s.strip() : left ? s.stripLeading() : right ? s.stripTrailing() : s;
            }
            case "Replace": {
                JsonNode p = n.path("pattern");
                String content = n.path("content").asText();
                if (p.has("String")) {
                    String lit = p.path("String").asText();
                    return s -> s.replace(lit, content);
                }
                Pattern re = Pattern.compile(p.path("Regex").asText(), Pattern.UNICODE_CHARACTER_CLASS);
                return s -> re.matcher(s).replaceAll(Matcher.quoteReplacement(content));
            }
            case "BertNormalizer": {
                boolean lower = n.path("lowercase").asBoolean(true);
                return s -> lower ? s.toLowerCase(Locale.ROOT) : s;
            }
            case "Sequence": {
                List<UnaryOperator<String>> steps = new ArrayList<>();
                for (JsonNode c : n.path("normalizers")) steps.add(normalizer(c));
                return s -> {
                    for (UnaryOperator<String> f : steps) s = f.apply(s);
                    return s;
                };
            }
            default:
                throw new InferenceException("tokenizer.json: normalizer type '" + type + "' is not supported");
        }
    }

    private static final Pattern WHITESPACE_RULE = Pattern.compile("\\w+|[^\\w\\s]+", Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern SPACES = Pattern.compile("\\s+", Pattern.UNICODE_CHARACTER_CLASS);

    private static PreTokenizer preTokenizer(JsonNode n) {
        if (n == null || n.isMissingNode() || n.isNull()) return s -> s.isEmpty() ? List.of() : List.of(s);
        String type = n.path("type").asText();
        switch (type) {
            case "Whitespace": return s -> matches(WHITESPACE_RULE, s);
            case "WhitespaceSplit": return WordLevelTokenizer::whitespaceSplit;
            case "Punctuation": return s -> isolate(s, WordLevelTokenizer::isPunctuation);
            case "BertPreTokenizer": return s -> {
                List<String> out = new ArrayList<>();
                for (String w : whitespaceSplit(s)) out.addAll(isolate(w, WordLevelTokenizer::isPunctuation));
                return out;
            };
            case "Split": {
                JsonNode p = n.path("pattern");
                Pattern re = p.has("String") ? Pattern.compile(Pattern.quote(p.path("String").asText()))
                        : Pattern.compile(p.path("Regex").asText(), Pattern.UNICODE_CHARACTER_CLASS);
                String behavior = n.path("behavior").asText("Isolated");
                boolean invert = n.path("invert").asBoolean(false);
                return s -> split(re, s, behavior, invert);
            }
            case "Sequence": {
                List<PreTokenizer> steps = new ArrayList<>();
                for (JsonNode c : n.path("pretokenizers")) steps.add(preTokenizer(c));
                return s -> {
                    List<String> pieces = List.of(s);
                    for (PreTokenizer step : steps) {
                        List<String> next = new ArrayList<>();
                        for (String piece : pieces) next.addAll(step.split(piece));
                        pieces = next;
                    }
                    return pieces;
                };
            }
            default:
                throw new InferenceException("tokenizer.json: pre_tokenizer type '" + type + "' is not supported");
        }
    }

    private static List<String> matches(Pattern p, String s) {
        List<String> out = new ArrayList<>();
        Matcher m = p.matcher(s);
        while (m.find()) out.add(m.group());
        return out;
    }

    private static List<String> whitespaceSplit(String s) {
        List<String> out = new ArrayList<>();
        for (String w : SPACES.split(s)) if (!w.isEmpty()) out.add(w);
        return out;
    }

    /** Same set as the Rust tokenizers crate: ASCII punctuation or any Unicode punctuation category. */
    static boolean isPunctuation(int c) {
        if (c < 128) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
        int t = Character.getType(c);
        return t == Character.CONNECTOR_PUNCTUATION || t == Character.DASH_PUNCTUATION || t == Character.START_PUNCTUATION
                || t == Character.END_PUNCTUATION || t == Character.INITIAL_QUOTE_PUNCTUATION
                || t == Character.FINAL_QUOTE_PUNCTUATION || t == Character.OTHER_PUNCTUATION;
    }

    private static List<String> isolate(String s, java.util.function.IntPredicate isSep) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        s.codePoints().forEach(c -> {
            if (isSep.test(c)) {
                if (cur.length() > 0) out.add(cur.toString());
                cur.setLength(0);
                out.add(new String(Character.toChars(c)));
            } else {
                cur.appendCodePoint(c);
            }
        });
        if (cur.length() > 0) out.add(cur.toString());
        return out;
    }

    private static List<String> split(Pattern re, String s, String behavior, boolean invert) {
        // pieces as (text, isMatch) in order
        List<String> texts = new ArrayList<>();
        List<Boolean> isMatch = new ArrayList<>();
        Matcher m = re.matcher(s);
        int last = 0;
        while (m.find()) {
            if (m.end() == m.start()) continue;
            if (m.start() > last) { texts.add(s.substring(last, m.start())); isMatch.add(false); }
            texts.add(m.group()); isMatch.add(true);
            last = m.end();
        }
        if (last < s.length()) { texts.add(s.substring(last)); isMatch.add(false); }
        if (invert) isMatch.replaceAll(b -> !b);
        List<String> out = new ArrayList<>();
        switch (behavior) {
            case "Removed":
                for (int i = 0; i < texts.size(); i++) if (!isMatch.get(i)) out.add(texts.get(i));
                break;
            case "Isolated":
                out.addAll(texts);
                break;
            case "MergedWithPrevious": {
                for (int i = 0; i < texts.size(); i++) {
                    if (isMatch.get(i) && !out.isEmpty()) out.set(out.size() - 1, out.get(out.size() - 1) + texts.get(i));
                    else out.add(texts.get(i));
                }
                break;
            }
            case "MergedWithNext": {
                String carry = "";
                for (int i = 0; i < texts.size(); i++) {
                    if (isMatch.get(i)) carry += texts.get(i);
                    else { out.add(carry + texts.get(i)); carry = ""; }
                }
                if (!carry.isEmpty()) out.add(carry);
                break;
            }
            case "Contiguous": {
                for (int i = 0; i < texts.size(); i++) {
                    if (i > 0 && isMatch.get(i) && isMatch.get(i - 1)) out.set(out.size() - 1, out.get(out.size() - 1) + texts.get(i));
                    else out.add(texts.get(i));
                }
                break;
            }
            default:
                throw new InferenceException("tokenizer.json: Split behavior '" + behavior + "' is not supported");
        }
        out.removeIf(String::isEmpty);
        return out;
    }
}

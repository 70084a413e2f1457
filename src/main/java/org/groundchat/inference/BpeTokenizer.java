package org.groundchat.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * Reads a Hugging Face {@code tokenizer.json} with a BPE model (LLaMA-1/2 and Vicuna's SentencePiece-style BPE with
 * byte fallback; GPT-2 / LLaMA-3 byte-level BPE) and encodes and decodes as the Rust tokenizers crate does.
 *
 * <p>Why not a library: DJL's binding is not in the offline Maven cache and needs a native library at run time (see
 * {@link WordLevelTokenizer}). The pipeline is the crate's: added tokens are cut out of the raw text first
 * ({@link BpeAddedTokens}), the text between them is normalized ({@link BpeNormalizers}) and pre-tokenized
 * ({@link BpePreTokenizers}), each word is merged by the model ({@link BpeModel}); decoding runs the file's decoder
 * chain ({@link BpeDecoders}). Options this class cannot reproduce are refused when the file is read.
 *
 * <p>Thread-safe: encoding keeps no state but the model's word cache, which is concurrent.
 */
public final class BpeTokenizer implements BpeTokenizerSelector.TextTokenizer {
    private final BpeModel model;
    private final BpeAddedTokens added;
    private final UnaryOperator<String> normalizer;
    private final BpePreTokenizers.Step preTokenizer;
    private final BpeDecoders.Step decoder;
    private final int[] templatePrefix;
    private final int[] templateSuffix;

    public static BpeTokenizer load(Path tokenizerJson) {
        try {
            return new BpeTokenizer(new ObjectMapper().readTree(tokenizerJson.toFile()));
        } catch (IOException e) {
            throw new InferenceException("tokenizer.json cannot be read: " + e.getMessage(), e);
        }
    }

    BpeTokenizer(JsonNode root) {
        model = new BpeModel(root.path("model"));
        normalizer = BpeNormalizers.of(root.path("normalizer"));
        added = new BpeAddedTokens(root.path("added_tokens"), normalizer);
        preTokenizer = BpePreTokenizers.of(root.path("pre_tokenizer"));
        decoder = BpeDecoders.of(root.path("decoder"));
        BpeIds prefix = new BpeIds(), suffix = new BpeIds();
        readTemplate(root.path("post_processor"), prefix, suffix);
        templatePrefix = prefix.toArray();
        templateSuffix = suffix.toArray();
    }

    /** Ids of the text, without BOS: what the model's prompt template splices between its own special tokens. */
    @Override
    public int[] encode(String text) { return encode(text, false); }

    /**
     * Ids of the text; with {@code addBos} the special tokens of the file's post-processor template for a single
     * sequence are added around them (LLaMA: {@code <s>} in front; GPT-2: nothing), as HF's
     * {@code add_special_tokens=True} does.
     */
    public int[] encode(String text, boolean addBos) {
        BpeIds ids = new BpeIds();
        if (addBos) ids.addAll(templatePrefix);
        for (BpeAddedTokens.Piece piece : added.split(text, normalizer)) {
            if (piece.isAdded()) {
                ids.add(piece.addedId());
                continue;
            }
            for (String word : preTokenizer.split(piece.text(), piece.atTextStart())) model.tokenize(word, ids);
        }
        if (addBos) ids.addAll(templateSuffix);
        return ids.toArray();
    }

    /** The token strings of the text's ids (for logs and tests). */
    public List<String> tokens(String text) {
        List<String> out = new ArrayList<>();
        for (int id : encode(text)) out.add(token(id));
        return out;
    }

    /** Text of the ids through the file's decoder, special tokens included (HF's skip_special_tokens=False). */
    @Override
    public String decode(int[] ids) { return decode(ids, false); }

    public String decode(int[] ids, boolean skipSpecialTokens) {
        List<String> tokens = new ArrayList<>(ids.length);
        for (int id : ids) {
            if (skipSpecialTokens && added.isSpecial(id)) continue;
            String t = rawToken(id);
            if (t != null) tokens.add(t); // ids outside the vocabulary are skipped, as in Rust
        }
        return String.join("", decoder.decodeChain(tokens));
    }

    /** The exact token string of an id; {@code <id:N>} for an id outside the vocabulary. */
    @Override
    public String token(int id) {
        String t = rawToken(id);
        return t == null ? "<id:" + id + ">" : t;
    }

    private String rawToken(int id) {
        String t = added.content(id);
        return t != null ? t : model.token(id);
    }

    /** The id of an exact token string (an added token or a vocabulary entry), or -1. */
    @Override
    public int id(String token) {
        Integer id = added.id(token);
        if (id == null) id = model.vocab().get(token);
        return id == null ? -1 : id;
    }

    /** Highest id + 1 over the vocabulary and the added tokens: the rows the model's embedding must have. */
    @Override
    public int vocabSize() { return Math.max(model.maxId(), added.maxId()) + 1; }

    public boolean isSpecial(int id) { return added.isSpecial(id); }

    /** The first special token of the single-sequence template (LLaMA's {@code <s>}), or -1. */
    public int bosId() { return templatePrefix.length > 0 ? templatePrefix[0] : -1; }

    /** TemplateProcessing (alone or inside a Sequence): the special tokens before and after sequence A. */
    private void readTemplate(JsonNode post, BpeIds prefix, BpeIds suffix) {
        if (post == null || post.isMissingNode() || post.isNull()) return;
        if ("Sequence".equals(post.path("type").asText())) {
            for (JsonNode p : post.path("processors")) readTemplate(p, prefix, suffix);
            return;
        }
        if (!"TemplateProcessing".equals(post.path("type").asText())) return; // ByteLevel etc. add no ids
        boolean afterSequence = false;
        for (JsonNode item : post.path("single")) {
            if (item.has("Sequence")) {
                afterSequence = true;
                continue;
            }
            String name = item.path("SpecialToken").path("id").asText();
            JsonNode declared = post.path("special_tokens").path(name).path("ids");
            List<Integer> ids = new ArrayList<>();
            if (declared.isArray() && declared.size() > 0) declared.forEach(i -> ids.add(i.asInt()));
            else if (id(name) >= 0) ids.add(id(name));
            else throw new InferenceException("tokenizer.json: template token '" + name + "' is not in the vocabulary");
            for (int i : ids) (afterSequence ? suffix : prefix).add(i);
        }
    }
}

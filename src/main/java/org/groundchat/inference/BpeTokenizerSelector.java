package org.groundchat.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Picks the tokenizer class from the {@code model.type} of a bundle's {@code tokenizer.json}: WordLevel (the bundled
 * shape models) or BPE (LLaMA-family checkpoints such as NExT-Chat's Vicuna). The engine can hold a
 * {@link TextTokenizer} instead of a concrete class; {@link WordLevelTokenizer} is wrapped, not changed.
 */
public final class BpeTokenizerSelector {
    /** What the engine needs of a tokenizer, whichever model the file has. */
    public interface TextTokenizer {
        /** Ids of the text, no BOS (the prompt builder adds the model's own special tokens). */
        int[] encode(String text);

        /** Display text of the ids. */
        String decode(int[] ids);

        /** The exact token string of an id. */
        String token(int id);

        /** The id of an exact token string, or -1. */
        int id(String token);

        /** The number of rows the model's embedding needs (highest id + 1). */
        int vocabSize();
    }

    private BpeTokenizerSelector() {}

    public static TextTokenizer load(Path tokenizerJson) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(tokenizerJson.toFile());
        } catch (IOException e) {
            throw new InferenceException("tokenizer.json cannot be read: " + e.getMessage(), e);
        }
        String type = root.path("model").path("type").asText();
        switch (type) {
            case "WordLevel": return wordLevel(new WordLevelTokenizer(root));
            case "BPE": return new BpeTokenizer(root);
            default: throw new InferenceException("tokenizer.json: model.type '" + type + "' is not supported (WordLevel or BPE)");
        }
    }

    /** The WordLevel tokenizer behind the same interface (its decode joins tokens with spaces, the model-text form). */
    public static TextTokenizer wordLevel(WordLevelTokenizer t) {
        return new TextTokenizer() {
            @Override public int[] encode(String text) { return t.encode(text); }
            @Override public String decode(int[] ids) { return t.decode(ids); }
            @Override public String token(int id) { return t.token(id); }
            @Override public int id(String token) { return t.id(token); }
            @Override public int vocabSize() { return t.vocabSize(); }
        };
    }
}

package org.groundchat.inference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * BpeTokenizer against reference encodings of 200 strings (ASCII, accents, CJK, emoji, whitespace runs, digits,
 * LLaMA's and NExT-Chat's special tokens, one 2,300-character text).
 *
 * <p>The references were produced by Hugging Face's JavaScript port of tokenizers, npm {@code @huggingface/tokenizers}
 * 0.2.0, loading the same tokenizer.json files (see src/test/resources/tokenizer/README.md). The files are fabricated
 * in the layouts of LLaMA-1/2 (legacy Prepend+Replace normalizer, byte fallback), newer LLaMA-2 exports (Metaspace),
 * GPT-2 (ByteLevel) and LLaMA-3 (Split regex + ByteLevel, ignore_merges): Meta's own files are not redistributable.
 * A real file can be checked too: write its reference.json with the same script and run with
 * {@code -Dgroundchat.tokenizer.extra=DIR[:DIR...]} (each DIR holding tokenizer.json and reference.json).
 */
class BpeTokenizerTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @ParameterizedTest
    @ValueSource(strings = {"llama-sp-legacy", "llama-sp-metaspace", "gpt2-byte-level", "llama3-byte-level"})
    void matchesTheReferenceIds(String variant) throws Exception {
        checkAgainstReference(resource(variant), variant.equals("llama-sp-metaspace"));
    }

    @Test
    void matchesAnExternalTokenizerWhenGiven() throws Exception {
        String dirs = System.getProperty("groundchat.tokenizer.extra");
        Assumptions.assumeTrue(dirs != null && !dirs.isBlank(), "no -Dgroundchat.tokenizer.extra");
        for (String dir : dirs.split(java.io.File.pathSeparator)) {
            JsonNode tokenizer = JSON.readTree(Path.of(dir, "tokenizer.json").toFile());
            boolean metaspaceDecoder = tokenizer.path("decoder").toString().contains("\"Metaspace\"");
            checkAgainstReference(Path.of(dir), metaspaceDecoder);
        }
    }

    /**
     * Encoding must equal the reference for every string, with and without the template's BOS. Decoding is compared
     * too, except where the JS port is known to differ from Rust: its Metaspace decoder strips only one leading "▁"
     * of the first token, Rust drops all of them (tokenizers' decoders/metaspace.rs).
     */
    private static void checkAgainstReference(Path dir, boolean metaspaceDecoder) throws IOException {
        BpeTokenizer tok = BpeTokenizer.load(dir.resolve("tokenizer.json"));
        JsonNode cases = JSON.readTree(dir.resolve("reference.json").toFile()).path("cases");
        assertEquals(200, cases.size(), "reference strings");
        List<String> failures = new ArrayList<>();
        int decodeChecked = 0;
        for (JsonNode c : cases) {
            String text = c.path("text").asText();
            int[] expected = ints(c.path("ids"));
            int[] actual = tok.encode(text);
            if (!java.util.Arrays.equals(expected, actual)) {
                failures.add("encode " + JSON.writeValueAsString(text) + ": expected " + java.util.Arrays.toString(expected)
                        + " got " + java.util.Arrays.toString(actual) + " " + tok.tokens(text));
                continue;
            }
            if (!java.util.Arrays.equals(ints(c.path("ids_with_special_tokens")), tok.encode(text, true))) {
                failures.add("encode with BOS " + JSON.writeValueAsString(text));
            }
            boolean jsDiffers = metaspaceDecoder && actual.length > 0 && tok.token(actual[0]).chars().filter(ch -> ch == '\u2581').count() > 1;
            if (!jsDiffers) {
                decodeChecked++;
                String decoded = tok.decode(actual);
                if (!decoded.equals(c.path("decoded").asText())) {
                    failures.add("decode " + JSON.writeValueAsString(text) + ": expected "
                            + JSON.writeValueAsString(c.path("decoded").asText()) + " got " + JSON.writeValueAsString(decoded));
                }
            }
        }
        assertTrue(failures.isEmpty(), dir.getFileName() + ": " + failures.size() + " mismatches\n" + String.join("\n", failures));
        assertTrue(decodeChecked >= 190, "decoding compared for " + decodeChecked + " strings only");
    }

    @Test
    void specialTokensAreNeverSplitAndBosIsOnlyAddedWhenAsked() throws Exception {
        BpeTokenizer tok = BpeTokenizer.load(resource("llama-sp-legacy").resolve("tokenizer.json"));
        int at = tok.id("<at>"), boxes = tok.id("<boxes>");
        assertTrue(at > 0 && boxes > 0);
        int[] ids = tok.encode("<p>dog</p><at><boxes>");
        assertEquals(boxes, ids[ids.length - 1]);
        assertEquals(at, ids[ids.length - 2]);
        assertEquals(1, tok.bosId());
        assertEquals(1, tok.encode("dog", true)[0]);
        assertTrue(tok.encode("dog")[0] != 1);
        assertEquals("dog", tok.decode(tok.encode("<s>dog</s>"), true));
    }

    /** Rust's ByteFallback decoder turns an invalid byte run into one U+FFFD per byte (the JS port decodes lossily). */
    @Test
    void invalidByteRunsDecodeToOneReplacementPerByte() throws Exception {
        BpeTokenizer tok = BpeTokenizer.load(resource("llama-sp-legacy").resolve("tokenizer.json"));
        int[] emoji = tok.encode("😀"); // "▁" then four byte tokens
        assertEquals(5, emoji.length);
        assertEquals("\uFFFD\uFFFD", tok.decode(new int[] {emoji[1], emoji[2]}));
        assertEquals("😀", tok.decode(emoji));
    }

    /** Metaspace with split=true (Mistral-style exports) cuts before each "▁"; the JS port ignores split. */
    @Test
    void metaspaceSplitCutsBeforeEachReplacement() {
        BpePreTokenizers.Step step = BpePreTokenizers.of(JSON.createObjectNode().put("type", "Metaspace")
                .put("replacement", "\u2581").put("prepend_scheme", "always").put("split", true));
        assertEquals(List.of("\u2581Hello", "\u2581", "\u2581world"), step.split("Hello  world", true));
        assertEquals(List.of("a", "\u2581", "\u2581"), BpePreTokenizers.split(java.util.regex.Pattern.compile("\u2581"),
                "a\u2581\u2581", "MergedWithNext", false));
    }

    /** A whole LLaMA-1/2 segment is one BPE word: merging must stay near-linear in its length. */
    @Test
    void longInputsEncodeQuickly() throws Exception {
        BpeTokenizer tok = BpeTokenizer.load(resource("llama-sp-legacy").resolve("tokenizer.json"));
        String text = "The grounded assistant answers questions about the image, 😀 and 你好. ".repeat(2000);
        long t0 = System.nanoTime();
        int[] ids = tok.encode(text + "x"); // "x": not cached
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(ids.length > 10_000);
        assertTrue(ms < 5_000, "encoding " + text.length() + " chars took " + ms + " ms");
        assertEquals(text + "x", tok.decode(ids));
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama-sp-legacy", "gpt2-byte-level"})
    void streamingDeltasAddUpToTheDecodedTextAndNeverSplitACharacter(String variant) throws Exception {
        BpeTokenizer tok = BpeTokenizer.load(resource(variant).resolve("tokenizer.json"));
        String text = "The cat 😀 sat on 你好 the mat <at><boxes> 👨‍👩‍👧 done.";
        int[] ids = tok.encode(text);
        BpeStreamingDecoder stream = new BpeStreamingDecoder(tok);
        StringBuilder shown = new StringBuilder();
        for (int id : ids) {
            String delta = stream.add(id);
            assertTrue(!delta.contains("\uFFFD"), "a delta split a character: " + delta);
            shown.append(delta);
        }
        shown.append(stream.finish());
        assertEquals(tok.decode(ids), shown.toString());
    }

    @Test
    void selectorPicksTheClassFromTheModelType() throws Exception {
        Path json = resource("gpt2-byte-level").resolve("tokenizer.json");
        BpeTokenizerSelector.TextTokenizer t = BpeTokenizerSelector.load(json);
        assertTrue(t instanceof BpeTokenizer);
        assertEquals("Hello world", t.decode(t.encode("Hello world")));
        assertEquals(BpeTokenizer.load(json).vocabSize(), t.vocabSize());
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = array.get(i).asInt();
        return out;
    }

    private static Path resource(String variant) throws URISyntaxException {
        Path p = Path.of(BpeTokenizerTest.class.getResource("/tokenizer/" + variant + "/tokenizer.json").toURI()).getParent();
        assertTrue(Files.isDirectory(p));
        return p;
    }
}

package org.groundchat.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.groundchat.inference.GenerationEvents.GenerationResult;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * With a prompt cache, a conversation's next turn is prefilled only after the prompt it shares with the previous
 * turn, and a new question about the same image only after the image rows: the answers stay those of whole
 * prefills (the same text and regions; boxes within rounding), alone and batched.
 */
class PromptCacheTest {
    static GroundingEngine whole, cached, cachedBatched;
    static byte[] scene;

    @BeforeAll
    static void open() throws Exception {
        Path dir = TestBundle.dir();
        EngineOptions o = EngineOptions.defaults().withBundleDir(dir).withMaxBatch(1);
        whole = GroundingEngine.open(dir, o);
        cached = GroundingEngine.open(dir, o.withPromptCacheSize(8));
        cachedBatched = GroundingEngine.open(dir, o.withMaxBatch(4).withPromptCacheSize(8));
        scene = Files.readAllBytes(dir.resolve("golden/case1.png"));
    }

    @AfterAll
    static void close() {
        whole.close();
        cached.close();
        cachedBatched.close();
    }

    private static GenerationResult ask(GroundingEngine engine, List<PromptTurn> turns) {
        return engine.generate(new GenerationRequest(scene, turns, GenerationOptions.greedy(), null, null),
                GenerationListener.NONE);
    }

    /** Three turns, each asked with the whole conversation so far (as the service does). */
    private static List<GenerationResult> conversation(GroundingEngine engine) {
        List<PromptTurn> turns = new ArrayList<>();
        List<GenerationResult> answers = new ArrayList<>();
        for (String q : List.of("describe the image .", "where is the red circle ?", "find the blue square .")) {
            turns.add(PromptTurn.user(q, List.of()));
            GenerationResult r = ask(engine, turns);
            answers.add(r);
            turns.add(PromptTurn.assistant(r.modelText(), r.slotBoxes()));
        }
        return answers;
    }

    private static void assertSameAnswers(List<GenerationResult> expected, List<GenerationResult> actual) {
        for (int t = 0; t < expected.size(); t++) {
            GenerationResult e = expected.get(t), a = actual.get(t);
            assertEquals(e.modelText(), a.modelText(), "turn " + (t + 1));
            assertEquals(e.promptTokens(), a.promptTokens(), "turn " + (t + 1));
            assertEquals(e.regions().size(), a.regions().size(), "turn " + (t + 1));
            for (int i = 0; i < e.regions().size(); i++) {
                float[] eb = e.regions().get(i).normalizedBox(), ab = a.regions().get(i).normalizedBox();
                for (int k = 0; k < 4; k++) {
                    assertEquals(eb[k], ab[k], 1e-4, "turn " + (t + 1) + " region " + i + " coordinate " + k);
                }
            }
        }
    }

    /** Token embeddings of a made-up prompt: n positions of the vocabulary's words, {@code seed} picks them. */
    private static float[] embeddings(int n, int seed) {
        int d = whole.manifest().dims().hidden(), vocab = whole.manifest().dims().vocab();
        float[] out = new float[n * d];
        for (int i = 0; i < n; i++) System.arraycopy(whole.tokenEmbedding(8 + (i * 7 + seed) % (vocab - 8)), 0, out, i * d, d);
        return out;
    }

    @Test
    void aDecoderContinuingAKeptPrefixComputesWhatAWholePrefillDoes() {
        int d = whole.manifest().dims().hidden(), n = 120, shared = 70;
        float[] prompt = embeddings(n, 0);
        KvCacheDecoder.Step expected;
        try (KvCacheDecoder all = whole.newDecoder()) {
            expected = all.feed(prompt, n);
        }
        // the kept prompt is longer than the part it shares (it went on differently after 70 positions)
        float[] other = embeddings(100, 3);
        System.arraycopy(prompt, 0, other, 0, shared * d);
        float[][] kv;
        try (KvCacheDecoder keep = whole.newDecoder()) {
            keep.feed(other, 100);
            kv = keep.presents();
        }
        try (KvCacheDecoder resumed = whole.newDecoder(new PromptCache.Prefix(kv, 100, shared))) {
            KvCacheDecoder.Step step = resumed.feed(java.util.Arrays.copyOfRange(prompt, shared * d, n * d), n - shared);
            assertEquals(n, resumed.length());
            float[] el = expected.lastLogits(), al = step.lastLogits();
            for (int i = 0; i < el.length; i++) assertEquals(el[i], al[i], 1e-5, "logit " + i);
            float[] eh = expected.lastHidden(d), ah = step.lastHidden(d);
            for (int i = 0; i < d; i++) assertEquals(eh[i], ah[i], 1e-5, "hidden " + i);
        }
    }

    @Test
    void laterTurnsReuseThePreviousPromptAndAnswerAsAWholePrefillWould() {
        List<GenerationResult> expected = conversation(whole);
        long hitsBefore = cached.promptCache().hits(), reusedBefore = cached.promptCache().reusedPositions();
        List<GenerationResult> actual = conversation(cached);
        assertSameAnswers(expected, actual);
        long hits = cached.promptCache().hits() - hitsBefore;
        long reused = cached.promptCache().reusedPositions() - reusedBefore;
        assertTrue(hits >= 2, "turns 2 and 3 start from a kept prompt: " + hits + " hits");
        // turn 2 reuses all of turn 1's prompt, turn 3 all of turn 2's
        int atLeast = expected.get(0).promptTokens() + expected.get(1).promptTokens();
        assertTrue(reused >= atLeast, "reused " + reused + " positions, the earlier prompts had " + atLeast);
    }

    @Test
    void batchedAnswersFromKeptPromptsAreThoseOfWholePrefills() {
        assertSameAnswers(conversation(whole), conversation(cachedBatched));
        assertTrue(cachedBatched.promptCache().hits() >= 2);
    }

    @Test
    void anotherQuestionAboutTheSameImageReusesItsRows() {
        ask(cached, List.of(PromptTurn.user("where is the green triangle ?", List.of())));
        long reusedBefore = cached.promptCache().reusedPositions();
        GenerationResult r = ask(cached, List.of(PromptTurn.user("find the small yellow star .", List.of())));
        long reused = cached.promptCache().reusedPositions() - reusedBefore;
        int imageRows = cached.manifest().dims().imageTokens();
        assertTrue(reused >= imageRows + 1, "<user> and the image rows: " + reused);
        assertEquals(ask(whole, List.of(PromptTurn.user("find the small yellow star .", List.of()))).modelText(),
                r.modelText());
    }
}

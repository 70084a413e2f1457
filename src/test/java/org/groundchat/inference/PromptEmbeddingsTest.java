package org.groundchat.inference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A prompt's slots are box-encoded together, in one call: every slot's embedding is still, bit for bit, what its box
 * alone gives, every other position is its token's embedding or its image row, and a prefill that starts after the
 * cached positions gets exactly the tail of the whole prompt's embeddings.
 */
class PromptEmbeddingsTest {
    static GroundingEngine engine;
    static byte[] scene;

    @BeforeAll
    static void open() throws Exception {
        Path dir = TestBundle.dir();
        engine = GroundingEngine.open(dir, EngineOptions.defaults().withBundleDir(dir).withMaxBatch(1));
        scene = Files.readAllBytes(dir.resolve("golden/case1.png"));
    }

    @AfterAll
    static void close() {
        engine.close();
    }

    @Test
    void slotsEncodedTogetherAreThoseEncodedAlone() {
        ImageFeatures f = engine.features(scene);
        BundleManifest.SpecialTokens sp = engine.manifest().specialTokens();
        int d = engine.manifest().dims().hidden(), imageTokens = engine.manifest().dims().imageTokens();
        int word = sp.end() + 3; // any ordinary token
        // <user> <image> w <boxes> w <end> <assistant> w <boxes> <boxes> <end> <user> <boxes> <end> <assistant>
        int[] ids = {sp.user(), sp.image(), word, sp.boxes(), word, sp.end(), sp.assistant(), word, sp.boxes(),
                sp.boxes(), sp.end(), sp.user(), sp.boxes(), sp.end(), sp.assistant()};
        List<Integer> slotPositions = List.of(3, 8, 9, 12);
        List<float[]> boxes = List.of(new float[] {0.1f, 0.2f, 0.5f, 0.6f}, new float[] {0.3f, 0.1f, 0.9f, 0.4f},
                new float[] {0.0f, 0.0f, 1.0f, 1.0f}, new float[] {0.45f, 0.5f, 0.55f, 0.7f});
        PromptBuilder.Prompt prompt = new PromptBuilder.Prompt(ids, slotPositions, boxes, 1, 0);
        GenerationRequest req = new GenerationRequest(scene, List.of(PromptTurn.user("x", List.of())),
                GenerationOptions.greedy(), null, null);
        AnswerSequence seq = new AnswerSequence(engine, f, req, GenerationListener.NONE, prompt, 8, System.nanoTime(), 0);

        float[] all = seq.promptEmbeddings(0);
        assertEquals((ids.length - 1 + imageTokens) * d, all.length);
        int row = 0, slot = 0;
        for (int i = 0; i < ids.length; i++) {
            if (i == 1) {
                for (int r = 0; r < imageTokens; r++, row++) {
                    assertArrayEquals(Arrays.copyOfRange(f.imageEmbeds(), r * d, (r + 1) * d), rowOf(all, row, d));
                }
                continue;
            }
            float[] expected = slotPositions.contains(i) ? engine.boxEncode(boxes.get(slot++), f) : engine.tokenEmbedding(ids[i]);
            assertArrayEquals(expected, rowOf(all, row, d), "position " + row + " (id index " + i + ")");
            row++;
        }
        for (int from : new int[] {imageTokens + 3, imageTokens + 8, row - 2}) { // after a slot, between two, near the end
            assertArrayEquals(Arrays.copyOfRange(all, from * d, all.length), seq.promptEmbeddings(from), "from " + from);
        }
    }

    private static float[] rowOf(float[] rows, int row, int d) {
        return Arrays.copyOfRange(rows, row * d, (row + 1) * d);
    }
}

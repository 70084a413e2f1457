package org.groundchat.inference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The KV cache's layout: a stride that grows in steps of 64 columns, rows laid out anew when it grows (by a step or
 * by a longer row joining) and when the longest row leaves. Each batched row, and each batch-1 decoder across its
 * own growth, gives the same bits as a batch-1 decoder fed the same embeddings. Embeddings are random, so lengths
 * and crossings are chosen by the test, not by what the model answers.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class KvCacheLayoutTest {
    GroundingEngine engine;
    int d;
    final Random random = new Random(7);

    @BeforeAll
    void open() {
        engine = GroundingEngine.open(TestBundle.dir(), EngineOptions.defaults().withBundleDir(TestBundle.dir()).withMaxBatch(1));
        d = engine.manifest().dims().hidden();
    }

    @AfterAll
    void close() {
        engine.close();
    }

    float[] embeds(int count) {
        float[] x = new float[count * d];
        for (int i = 0; i < x.length; i++) x[i] = (float) random.nextGaussian() * 0.5f;
        return x;
    }

    /** A sequence: its prompt and its steps' embeddings, and its batch-1 outputs at every step. */
    final class Sequence {
        final float[] prompt;
        final int promptLength;
        final List<float[]> steps = new ArrayList<>();
        final List<KvCacheDecoder.Step> alone = new ArrayList<>();

        Sequence(int promptLength, int stepCount) {
            this.promptLength = promptLength;
            this.prompt = embeds(promptLength);
            for (int i = 0; i < stepCount; i++) steps.add(embeds(1));
            try (KvCacheDecoder single = engine.newDecoder()) {
                single.feed(prompt, promptLength);
                for (float[] s : steps) alone.add(single.feed(s, 1));
            }
        }

        KvCacheDecoder prefilled() {
            KvCacheDecoder dec = engine.newDecoder();
            dec.feed(prompt, promptLength);
            return dec;
        }
    }

    @Test
    void strideGrowsInStepsOf64UpToTheModelsLength() {
        int max = engine.manifest().dims().maxSeq();
        assertEquals(64, KvCacheDecoder.strideFor(1, max));
        assertEquals(64, KvCacheDecoder.strideFor(64, max));
        assertEquals(128, KvCacheDecoder.strideFor(65, max));
        assertEquals(max, KvCacheDecoder.strideFor(max, max));
    }

    @Test
    void aSingleDecoderCrossingItsStrideGivesTheSameBitsAsAPromptOfTheSameLength() {
        // 60 prompt positions, then steps to 70: the stride grows from 64 to 128 at the fifth step
        Sequence s = new Sequence(60, 10);
        float[] all = new float[70 * d];
        System.arraycopy(s.prompt, 0, all, 0, 60 * d);
        for (int i = 0; i < 10; i++) System.arraycopy(s.steps.get(i), 0, all, (60 + i) * d, d);
        try (KvCacheDecoder whole = engine.newDecoder()) {
            KvCacheDecoder.Step once = whole.feed(all, 70);
            assertEquals(128, whole.stride());
            // the last position's hidden state, computed in one prompt, against the tenth step after the growth
            float[] stepped = s.alone.get(9).lastHidden(d), prompted = once.lastHidden(d);
            for (int i = 0; i < d; i++) {
                assertEquals(prompted[i], stepped[i], 1e-4, "hidden " + i);
            }
        }
    }

    @Test
    void batchedRowsAcrossGrowthJoinsAndLeavesEqualBatchOneRuns() {
        // a: 50 positions, crosses 64 at its 14th step; c joins at step 10 with 190 (the batch's stride jumps from 128
        // to 192) and leaves after 5 steps, so the stride shrinks back to 128; b: 100, crosses 128 at its 28th step
        Sequence a = new Sequence(50, 30), b = new Sequence(100, 30), c = new Sequence(190, 5);
        try (BatchDecoder batch = engine.newBatchDecoder(4)) {
            batch.join(a, a.prefilled());
            batch.join(b, b.prefilled());
            int ia = 0, ib = 0, ic = 0;
            for (int step = 0; step < 30; step++) {
                if (step == 10) {
                    assertEquals(128, batch.stride());
                    batch.join(c, c.prefilled());
                    assertEquals(192, batch.stride(), "a longer row joining widens every row");
                }
                List<Object> keys = batch.keys();
                float[] in = new float[keys.size() * d];
                for (int r = 0; r < keys.size(); r++) {
                    Sequence s = (Sequence) keys.get(r);
                    int k = s == a ? ia : s == b ? ib : ic;
                    System.arraycopy(s.steps.get(k), 0, in, r * d, d);
                }
                BatchDecoder.Output out = batch.step(in);
                for (int r = 0; r < keys.size(); r++) {
                    Sequence s = (Sequence) keys.get(r);
                    int k = s == a ? ia++ : s == b ? ib++ : ic++;
                    float[] hidden = new float[d];
                    System.arraycopy(out.hidden(), r * d, hidden, 0, d);
                    String where = (s == a ? "a" : s == b ? "b" : "c") + " step " + k;
                    assertArrayEquals(s.alone.get(k).lastHidden(d), hidden, where + ": the same bits");
                    int vocab = s.alone.get(k).lastLogits().length;
                    float[] logits = new float[vocab];
                    System.arraycopy(out.logits(), r * vocab, logits, 0, vocab);
                    assertArrayEquals(s.alone.get(k).lastLogits(), logits, where + ": the same logits");
                }
                if (ic == 5 && keys.contains(c)) {
                    batch.leave(c);
                    assertEquals(128, batch.stride(), "the stride shrinks when the longest row leaves");
                }
            }
            assertEquals(192, batch.stride(), "b crossed 128");
            assertEquals(30, ia);
            assertEquals(30, ib);
            assertEquals(5, ic);
        }
    }
}

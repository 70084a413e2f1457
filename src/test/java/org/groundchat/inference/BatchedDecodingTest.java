package org.groundchat.inference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.groundchat.inference.GenerationEvents.FinishReason;
import org.groundchat.inference.GenerationEvents.GenerationResult;
import org.groundchat.inference.GenerationEvents.MaskEvent;
import org.groundchat.inference.GenerationEvents.RegionEvent;
import org.groundchat.inference.GenerationEvents.WordPointEvent;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Answers decoded together by the batching thread equal the same answers decoded alone (a batch-1 engine): the
 * same tokens and text, boxes within 1e-5, the same mask RLE. The tests pause the batching thread to choose the
 * step at which answers join, so every run batches the same way, and read its counters to prove the answers
 * really shared decoder calls.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class BatchedDecodingTest {
    GroundingEngine batched, single;
    DecodeBatcher batcher;
    ExecutorService callers = Executors.newCachedThreadPool();
    /** Four different prompts: three images of this bundle's golden set and one of the candidate's, two drawn boxes. */
    List<GenerationRequest> prompts;

    @BeforeAll
    void open() throws IOException {
        Path dir = TestBundle.dir();
        batched = GroundingEngine.open(dir, EngineOptions.defaults().withBundleDir(dir).withMaxBatch(8));
        single = GroundingEngine.open(dir, EngineOptions.defaults().withBundleDir(dir).withMaxBatch(1));
        batcher = batched.batcher();
        Path candidate = Path.of("models/candidate/golden");
        prompts = List.of(
                ask(dir.resolve("golden/case1.png"), "describe the image .", List.of()),
                ask(dir.resolve("golden/case0.png"), "where is the large purple triangle ?", List.of()),
                ask(dir.resolve("golden/case2.png"), "what is this <boxes> ?", List.of(new PixelBox(26, 128, 50, 154))),
                ask(candidate.resolve("case3.png"), "what is this <boxes> ?",
                        List.of(new PixelBox(150.24, 37.39, 207.70, 110.36))));
    }

    @AfterAll
    void close() {
        callers.shutdownNow();
        batched.close();
        single.close();
    }

    @AfterEach
    void resume() {
        batcher.resume();
    }

    static GenerationRequest ask(Path image, String text, List<PixelBox> boxes) throws IOException {
        return new GenerationRequest(Files.readAllBytes(image), List.of(PromptTurn.user(text, boxes)),
                GenerationOptions.greedy(), null, new CancellationToken());
    }

    static GenerationRequest withCancellation(GenerationRequest r, CancellationToken c) {
        return new GenerationRequest(r.image(), r.turns(), r.options(), r.regionLabel(), c);
    }

    @Test
    void fourDifferentAnswersDecodedTogetherEqualFourSingleRuns() throws Exception {
        List<GenerationResult> alone = new ArrayList<>();
        for (GenerationRequest r : prompts) alone.add(single.generate(r, GenerationListener.NONE));
        long calls = batcher.decoderCalls(), rows = batcher.rowsDecoded();

        List<Future<GenerationResult>> together = joinTogether(prompts, List.of(GenerationListener.NONE,
                GenerationListener.NONE, GenerationListener.NONE, GenerationListener.NONE));

        int longest = 0, total = 0;
        for (int i = 0; i < prompts.size(); i++) {
            GenerationResult b = together.get(i).get(60, TimeUnit.SECONDS);
            assertSameAnswer(alone.get(i), b, "prompt " + i);
            // every row is laid out as a batch-1 cache (the same columns, the rest masked): the same bits, not only close
            for (int k = 0; k < b.regions().size(); k++) {
                assertArrayEquals(alone.get(i).regions().get(k).normalizedBox(), b.regions().get(k).normalizedBox(),
                        "prompt " + i + ", box " + k + ": the same bits");
            }
            for (int k = 0; k < b.points().size(); k++) {
                assertEquals(alone.get(i).points().get(k).x(), b.points().get(k).x(), "prompt " + i + ", point " + k);
                assertEquals(alone.get(i).points().get(k).y(), b.points().get(k).y(), "prompt " + i + ", point " + k);
            }
            longest = Math.max(longest, b.completionTokens());
            total += b.completionTokens();
        }
        assertTrue(alone.get(0).regions().size() >= 2 && alone.get(0).completionTokens() >= 30,
                "the long answer locates several objects: " + alone.get(0).modelText());
        // one call per step served every answer still running: as many calls as the longest answer has steps
        assertEquals(4, batcher.maxRows());
        assertEquals(longest, batcher.decoderCalls() - calls, "decoder calls");
        assertEquals(total, batcher.rowsDecoded() - rows, "rows decoded");
    }

    @Test
    void rowsOfEqualLengthAreBitIdenticalToASingleRun() throws Exception {
        GenerationRequest r = prompts.get(0);
        GenerationResult alone = single.generate(r, GenerationListener.NONE);
        List<Future<GenerationResult>> twice = joinTogether(List.of(r, r), List.of(GenerationListener.NONE,
                GenerationListener.NONE));
        for (Future<GenerationResult> f : twice) {
            GenerationResult b = f.get(60, TimeUnit.SECONDS);
            assertSameAnswer(alone, b, "twin");
            for (int k = 0; k < alone.regions().size(); k++) {
                assertArrayEquals(alone.regions().get(k).normalizedBox(), b.regions().get(k).normalizedBox(),
                        "no padding: the same bits");
            }
            for (int k = 0; k < alone.points().size(); k++) {
                assertEquals(alone.points().get(k).x(), b.points().get(k).x());
            }
        }
    }

    @Test
    void aCancelledAnswerEndsWhileTheOthersCompleteUnchanged() throws Exception {
        List<GenerationResult> alone = new ArrayList<>();
        for (GenerationRequest r : prompts) alone.add(single.generate(r, GenerationListener.NONE));
        CancellationToken cancel = new CancellationToken();
        List<GenerationRequest> reqs = new ArrayList<>(prompts);
        reqs.set(1, withCancellation(prompts.get(1), cancel));
        GenerationListener cancelsAfterFirstWord = new GenerationListener() {
            @Override public void onTextDelta(String delta) { cancel.cancel(); }
        };
        List<Future<GenerationResult>> together = joinTogether(reqs, List.of(GenerationListener.NONE,
                cancelsAfterFirstWord, GenerationListener.NONE, GenerationListener.NONE));

        GenerationResult cancelled = together.get(1).get(60, TimeUnit.SECONDS);
        assertEquals(FinishReason.CANCELLED, cancelled.finishReason());
        assertTrue(cancelled.completionTokens() <= 3, "ended at the step after the first word: " + cancelled.modelText());
        assertTrue(alone.get(1).completionTokens() > cancelled.completionTokens() + 2, "it would have gone on");
        for (int i : new int[] {0, 2, 3}) assertSameAnswer(alone.get(i), together.get(i).get(60, TimeUnit.SECONDS), "prompt " + i);
    }

    @Test
    void aListenerThatThrowsFailsOnlyItsOwnAnswer() throws Exception {
        List<GenerationResult> alone = new ArrayList<>();
        for (GenerationRequest r : prompts) alone.add(single.generate(r, GenerationListener.NONE));
        IllegalStateException boom = new IllegalStateException("listener failed");
        GenerationListener throwsAtTheSecondWord = new GenerationListener() {
            int deltas;

            @Override public void onTextDelta(String delta) {
                if (++deltas == 2) throw boom;
            }
        };
        List<Future<GenerationResult>> together = joinTogether(prompts, List.of(throwsAtTheSecondWord,
                GenerationListener.NONE, GenerationListener.NONE, GenerationListener.NONE));

        java.util.concurrent.ExecutionException failed = org.junit.jupiter.api.Assertions.assertThrows(
                java.util.concurrent.ExecutionException.class, () -> together.get(0).get(60, TimeUnit.SECONDS));
        assertEquals(boom, failed.getCause(), "its caller gets the listener's exception");
        for (int i : new int[] {1, 2, 3}) assertSameAnswer(alone.get(i), together.get(i).get(60, TimeUnit.SECONDS), "prompt " + i);
    }

    @Test
    void anAnswerJoiningMidBatchIsCorrect() throws Exception {
        GenerationRequest first = prompts.get(0), late = prompts.get(3);
        GenerationResult firstAlone = single.generate(first, GenerationListener.NONE);
        GenerationResult lateAlone = single.generate(late, GenerationListener.NONE);
        long calls = batcher.decoderCalls();
        CountDownLatch fifthWord = new CountDownLatch(1), lateReturned = new CountDownLatch(1);
        int[] deltasWhenJoined = new int[1];
        boolean[] lateBackWhileFirstRan = new boolean[1];
        GenerationListener pausesAtTheFifthWord = new GenerationListener() {
            int deltas;

            @Override public void onTextDelta(String delta) {
                if (++deltas == 5) { // on the driving thread (this answer's caller): it stops after this step
                    batcher.pause();
                    deltasWhenJoined[0] = deltas;
                    fifthWord.countDown();
                }
            }

            @Override public void onDone(GenerationResult r) {
                try { // the late answer ended long before: its caller must have its result without waiting for ours
                    lateBackWhileFirstRan[0] = lateReturned.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        Future<GenerationResult> a = callers.submit(() -> batched.generate(first, pausesAtTheFifthWord));
        assertTrue(fifthWord.await(60, TimeUnit.SECONDS));
        Future<GenerationResult> b = callers.submit(() -> {
            GenerationResult r = batched.generate(late, GenerationListener.NONE);
            lateReturned.countDown();
            return r;
        });
        awaitWaiting(1);
        batcher.resume();

        GenerationResult firstBatched = a.get(60, TimeUnit.SECONDS), lateBatched = b.get(60, TimeUnit.SECONDS);
        assertSameAnswer(firstAlone, firstBatched, "running answer");
        assertSameAnswer(lateAlone, lateBatched, "joining answer");
        assertEquals(5, deltasWhenJoined[0]);
        assertTrue(lateBackWhileFirstRan[0], "the late answer's caller returned while the batch went on");
        long used = batcher.decoderCalls() - calls;
        assertTrue(used < firstBatched.completionTokens() + lateBatched.completionTokens(),
                "the late answer shared the running answer's calls: " + used);
        assertEquals(firstBatched.completionTokens(), used, "it joined and ended within the long answer's steps");
    }

    /** Starts every request on its own caller while the batching thread is paused, so all join at the same step. */
    private List<Future<GenerationResult>> joinTogether(List<GenerationRequest> reqs, List<GenerationListener> listeners)
            throws InterruptedException {
        batcher.pause();
        List<Future<GenerationResult>> out = new ArrayList<>();
        for (int i = 0; i < reqs.size(); i++) {
            GenerationRequest r = reqs.get(i);
            GenerationListener l = listeners.get(i);
            out.add(callers.submit(() -> batched.generate(r, l)));
        }
        awaitWaiting(reqs.size());
        batcher.resume();
        return out;
    }

    @Test
    void denseCaptionsAreAskedTogetherAndEqualTheOneByOneCaptions() throws Exception {
        byte[] image = java.nio.file.Files.readAllBytes(TestBundle.dir().resolve("golden/case1.png"));
        List<DenseCaption> alone = single.denseCaptions(image, 8, null);
        long rowsBefore = batcher.rowsDecoded(), callsBefore = batcher.decoderCalls();
        // every caption is asked before any step runs, whatever the machine's speed: a fast one had finished each
        // short caption before the next arrived (CI: 20 rows in 20 calls)
        batcher.pause();
        Future<List<DenseCaption>> asked = callers.submit(() -> batched.denseCaptions(image, 8, null));
        awaitWaiting(alone.size());
        batcher.resume();
        List<DenseCaption> together = asked.get(60, TimeUnit.SECONDS);
        assertTrue(alone.size() > 1, "the scene has several objects: " + alone.size());
        assertEquals(alone.size(), together.size());
        for (int i = 0; i < alone.size(); i++) {
            assertEquals(alone.get(i).caption(), together.get(i).caption(), "caption " + i);
            assertEquals(alone.get(i).box(), together.get(i).box(), "box " + i);
        }
        long rows = batcher.rowsDecoded() - rowsBefore, calls = batcher.decoderCalls() - callsBefore;
        assertTrue(rows > calls, "the captions shared decoder calls: " + rows + " rows in " + calls + " calls");
    }

    private void awaitWaiting(int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (batcher.waitingCount() < n) {
            assertTrue(System.nanoTime() < deadline, "answers did not reach the batch");
            Thread.sleep(5);
        }
    }

    /** Same tokens, text, finish and events; boxes within 1e-5; masks RLE-equal; points within 1e-3 px. */
    static void assertSameAnswer(GenerationResult expected, GenerationResult actual, String where) {
        assertEquals(expected.modelText(), actual.modelText(), where + ": tokens");
        assertEquals(expected.displayText(), actual.displayText(), where + ": text");
        assertEquals(expected.finishReason(), actual.finishReason(), where + ": finish");
        assertEquals(expected.completionTokens(), actual.completionTokens(), where + ": completion tokens");
        assertEquals(expected.promptTokens(), actual.promptTokens(), where + ": prompt tokens");
        assertEquals(expected.regions().size(), actual.regions().size(), where + ": regions");
        for (int i = 0; i < expected.regions().size(); i++) {
            RegionEvent e = expected.regions().get(i), a = actual.regions().get(i);
            assertArrayEquals(e.normalizedBox(), a.normalizedBox(), 1e-5f, where + ": box " + i);
            assertEquals(e.phrase(), a.phrase(), where + ": phrase " + i);
            assertEquals(e.label(), a.label(), where + ": label " + i);
        }
        assertEquals(expected.masks().size(), actual.masks().size(), where + ": masks");
        for (int i = 0; i < expected.masks().size(); i++) {
            MaskEvent e = expected.masks().get(i), a = actual.masks().get(i);
            assertEquals(e.mask().height(), a.mask().height());
            assertEquals(e.mask().width(), a.mask().width());
            assertArrayEquals(e.mask().counts(), a.mask().counts(), where + ": mask RLE " + i);
            assertEquals(e.score(), a.score(), 1e-5, where + ": mask score " + i);
        }
        assertEquals(expected.points().size(), actual.points().size(), where + ": points");
        for (int i = 0; i < expected.points().size(); i++) {
            WordPointEvent e = expected.points().get(i), a = actual.points().get(i);
            assertEquals(e.word(), a.word());
            assertEquals(e.regionIndex(), a.regionIndex());
            assertEquals(e.x(), a.x(), 1e-3, where + ": point " + i + " x");
            assertEquals(e.y(), a.y(), 1e-3, where + ": point " + i + " y");
        }
    }
}

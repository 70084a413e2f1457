package org.groundchat.inference;

import java.util.ArrayList;
import java.util.List;
import org.groundchat.inference.GenerationEvents.GenerationResult;

/**
 * Drives one {@link AnswerSequence} on the calling thread with a batch-1 KV cache: the engine's path when batching
 * is off ({@code EngineOptions.maxBatch} 1). Also the prompt prefill, which every answer runs on its caller's thread
 * before it joins a batch (a prompt is many positions: it gains nothing from sharing a call).
 */
final class AnswerLoop {
    private AnswerLoop() {}

    /** Feeds the prompt into a new KV cache and tells the sequence; the caller owns (closes) the returned cache. */
    static KvCacheDecoder prefill(GroundingEngine engine, AnswerSequence seq) {
        long start = System.nanoTime();
        int promptLength = seq.promptPositions();
        PromptCache cache = engine.promptCache();
        long[] keys = cache == null ? null : seq.promptKeys();
        String sha = seq.image().sha256();
        PromptCache.Prefix kept = cache == null ? null : cache.longestPrefix(sha, keys, promptLength - 1);
        KvCacheDecoder decoder = kept == null ? engine.newDecoder() : engine.newDecoder(kept);
        try {
            int from = kept == null ? 0 : kept.length();
            // only the positions after the kept prefix are embedded (a slot's embedding is a box-encoder run)
            KvCacheDecoder.Step step = decoder.feed(seq.promptEmbeddings(from), promptLength - from);
            if (cache != null) cache.put(sha, keys, decoder.presents());
            seq.prefilled(promptLength, step.lastLogits(), GroundingEngine.ms(start));
            return decoder;
        } catch (RuntimeException e) {
            decoder.close();
            throw e;
        }
    }

    /** Runs the whole answer on this thread: one decoder call and at most one head call per step. */
    static GenerationResult run(GroundingEngine engine, AnswerSequence seq) {
        int d = engine.manifest().dims().hidden();
        try (KvCacheDecoder decoder = prefill(engine, seq)) {
            float[] input;
            while ((input = seq.next()) != null) {
                KvCacheDecoder.Step step = decoder.feed(input, 1);
                float[] hidden = step.lastHidden(d);
                List<HeadCalls.GroupFailure> failures = new ArrayList<>(0);
                AnswerSequence.HeadOutput head = HeadCalls.run(engine, List.of(seq), hidden, d, failures)[0];
                if (!failures.isEmpty()) throw (RuntimeException) failures.get(0).getCause();
                seq.accept(step.lastLogits(), hidden, head);
            }
            return seq.result();
        }
    }
}

package org.groundchat.inference;

import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Batch-1 KV caches handed from answer to answer. A cache's buffers grow to a whole cache once and stay, and so do
 * its step tensors: as many caches exist as answers were ever prefilled at the same time. Thread-safe.
 */
final class KvBufferPool implements AutoCloseable {
    /** One cache: a buffer per layer and kind, and the step tensors made over them, one per stride. */
    static final class CacheSet {
        final DirectFloats[] buffers;
        final StepTensors[] steps;

        CacheSet(int buffers, int strides) {
            this.buffers = new DirectFloats[buffers];
            for (int i = 0; i < buffers; i++) this.buffers[i] = new DirectFloats();
            this.steps = new StepTensors[strides];
        }

        void close() {
            for (StepTensors s : steps) if (s != null) s.close();
        }
    }

    private final ConcurrentLinkedQueue<CacheSet> free = new ConcurrentLinkedQueue<>();

    CacheSet acquire(int buffers, int strides) {
        CacheSet set = free.poll();
        if (set != null && set.buffers.length == buffers && set.steps.length == strides) return set;
        if (set != null) set.close();
        return new CacheSet(buffers, strides);
    }

    void release(CacheSet set) {
        free.offer(set);
    }

    @Override
    public void close() {
        for (CacheSet set; (set = free.poll()) != null; ) set.close();
    }
}

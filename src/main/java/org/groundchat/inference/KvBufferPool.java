package org.groundchat.inference;

import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Sets of KV buffers (one {@link DirectFloats} per layer and kind) handed from answer to answer. A set's buffers grow
 * to a whole cache once and stay: as many sets exist as answers were ever prefilled at the same time. Thread-safe.
 */
final class KvBufferPool {
    private final ConcurrentLinkedQueue<DirectFloats[]> free = new ConcurrentLinkedQueue<>();

    DirectFloats[] acquire(int buffers) {
        DirectFloats[] set = free.poll();
        if (set != null && set.length == buffers) return set;
        set = new DirectFloats[buffers];
        for (int i = 0; i < buffers; i++) set[i] = new DirectFloats();
        return set;
    }

    void release(DirectFloats[] set) {
        free.offer(set);
    }
}

package org.groundchat.inference;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.Iterator;

/**
 * Prefilled prompts kept with their KV caches, in the manner of llama.cpp's prompt cache: a new prompt is prefilled
 * only from the first position where it differs from the kept prompt that shares the longest start with it. A
 * conversation's next turn starts with its previous prompt (until older turns are dropped for room), and every prompt
 * about an image starts with that image's rows. Positions are compared by a key ({@link AnswerSequence#promptKeys}):
 * the token id, the image row, or the box of a slot. Least recently used first out; thread-safe.
 */
final class PromptCache {
    /** A kept prompt's start: {@code length} positions of a cache whose arrays hold {@code stride} positions. */
    record Prefix(float[][] kv, int stride, int length) {}

    private record Entry(String imageSha, long[] keys, float[][] kv) {}

    private final int capacity;
    private final Deque<Entry> entries = new ArrayDeque<>(); // most recently used first
    private long hits, reusedPositions;

    PromptCache(int capacity) {
        this.capacity = capacity;
    }

    /**
     * The kept prompt about the same image that shares the longest start with {@code keys}, at most {@code limit}
     * positions of it (a prefill must feed at least one position to get the next token's logits), or null.
     */
    synchronized Prefix longestPrefix(String imageSha, long[] keys, int limit) {
        Entry best = null;
        int bestLength = 0;
        for (Entry e : entries) {
            if (!e.imageSha.equals(imageSha)) continue;
            int n = Math.min(Math.min(e.keys.length, keys.length), limit);
            int common = Arrays.mismatch(e.keys, 0, n, keys, 0, n);
            if (common < 0) common = n;
            if (common > bestLength) {
                best = e;
                bestLength = common;
            }
        }
        if (best == null) return null;
        entries.remove(best);
        entries.addFirst(best);
        hits++;
        reusedPositions += bestLength;
        return new Prefix(best.kv, best.keys.length, bestLength);
    }

    /**
     * Keeps a prefilled prompt; a kept prompt it extends (or repeats) is dropped, as the new one serves everything
     * the old one did.
     */
    synchronized void put(String imageSha, long[] keys, float[][] kv) {
        for (Iterator<Entry> it = entries.iterator(); it.hasNext(); ) {
            Entry e = it.next();
            if (e.imageSha.equals(imageSha) && e.keys.length <= keys.length
                    && Arrays.equals(e.keys, 0, e.keys.length, keys, 0, e.keys.length)) {
                it.remove();
            }
        }
        entries.addFirst(new Entry(imageSha, keys, kv));
        while (entries.size() > capacity) entries.removeLast();
    }

    synchronized long hits() { return hits; }

    synchronized long reusedPositions() { return reusedPositions; }
}

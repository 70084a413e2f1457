package org.groundchat.inference;

import java.util.Arrays;

/**
 * Merge lookup (left id, right id) -> (rank, merged id) without boxing: an open-addressing table of longs. LLaMA-3
 * has 280,000 merges and every candidate pair of every word is looked up, so {@code HashMap<Long, ...>} would
 * allocate on the hot path.
 */
final class BpeMergeTable {
    private static final long EMPTY = -1L;
    private long[] keys;
    private long[] values;
    private int size;

    BpeMergeTable(int expected) {
        int capacity = Integer.highestOneBit(Math.max(16, expected * 2 - 1)) << 1;
        keys = new long[capacity];
        values = new long[capacity];
        Arrays.fill(keys, EMPTY);
    }

    static long pair(int left, int right) { return ((long) left << 32) | (right & 0xffffffffL); }

    /** Stores the merge; a pair seen again keeps its last rank, like the Rust and JS maps. */
    void put(int left, int right, int rank, int mergedId) {
        if ((size + 1) * 2 > keys.length) grow();
        insert(pair(left, right), ((long) rank << 32) | (mergedId & 0xffffffffL));
    }

    /** (rank << 32 | merged id) of the pair, or -1 when the pair does not merge. */
    long get(int left, int right) {
        long key = pair(left, right);
        int mask = keys.length - 1;
        for (int i = slot(key, mask); ; i = (i + 1) & mask) {
            if (keys[i] == key) return values[i];
            if (keys[i] == EMPTY) return -1L;
        }
    }

    static int rank(long entry) { return (int) (entry >>> 32); }

    static int mergedId(long entry) { return (int) entry; }

    private void insert(long key, long value) {
        int mask = keys.length - 1;
        int i = slot(key, mask);
        while (keys[i] != EMPTY && keys[i] != key) i = (i + 1) & mask;
        if (keys[i] == EMPTY) size++;
        keys[i] = key;
        values[i] = value;
    }

    private static int slot(long key, int mask) {
        long h = key * 0x9E3779B97F4A7C15L;
        return (int) (h ^ (h >>> 29)) & mask;
    }

    private void grow() {
        long[] oldKeys = keys, oldValues = values;
        keys = new long[oldKeys.length * 2];
        values = new long[oldKeys.length * 2];
        Arrays.fill(keys, EMPTY);
        size = 0;
        for (int i = 0; i < oldKeys.length; i++) if (oldKeys[i] != EMPTY) insert(oldKeys[i], oldValues[i]);
    }
}

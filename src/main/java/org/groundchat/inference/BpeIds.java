package org.groundchat.inference;

import java.util.Arrays;

/** A growable list of int ids, so encoding long texts does not box every id. */
final class BpeIds {
    private int[] ids = new int[16];
    private int size;

    void add(int id) {
        if (size == ids.length) ids = Arrays.copyOf(ids, size * 2);
        ids[size++] = id;
    }

    void addAll(int[] more) {
        if (size + more.length > ids.length) ids = Arrays.copyOf(ids, Math.max(size * 2, size + more.length));
        System.arraycopy(more, 0, ids, size, more.length);
        size += more.length;
    }

    int size() { return size; }

    int[] toArray() { return Arrays.copyOf(ids, size); }
}

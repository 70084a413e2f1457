package org.groundchat.inference;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * A reusable native-order direct buffer that ONNX Runtime reads in place. A fresh direct buffer per call (what the
 * batch rebuild and the prompt cache's prefix did) is zeroed by the JVM, faults its pages in, and is freed only when a
 * garbage collection finds it: under 32 sessions that was ~10 % of the server's CPU in memset, page faults and
 * copies, and gigabytes of resident memory between collections. Not thread-safe: one owner at a time.
 */
final class DirectFloats {
    private FloatBuffer buffer = FloatBuffer.allocate(0);

    /**
     * The first {@code floats} floats of this buffer (grown when needed, contents then lost), as a buffer of exactly
     * that size. Valid until the next call; what it held before is kept when the buffer did not grow.
     */
    FloatBuffer take(int floats) {
        if (buffer.capacity() < floats) buffer = allocate(Math.max(floats, buffer.capacity() + buffer.capacity() / 2));
        return buffer.slice(0, floats);
    }

    /** A new direct buffer holding a copy of {@code data}: an input made once and read in place by many calls. */
    static FloatBuffer copyOf(float[] data) {
        FloatBuffer b = allocate(data.length);
        b.put(data).flip();
        return b;
    }

    private static FloatBuffer allocate(int floats) {
        return ByteBuffer.allocateDirect(floats * Float.BYTES).order(ByteOrder.nativeOrder()).asFloatBuffer();
    }
}

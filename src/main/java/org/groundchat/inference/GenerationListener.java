package org.groundchat.inference;

import org.groundchat.inference.GenerationEvents.*;

/** Receives an answer's events on the generating thread, as they happen. All methods are optional. */
public interface GenerationListener {
    default void onEncoded(double encodeMs) {}

    default void onTextDelta(String delta) {}

    default void onRegion(RegionEvent region) {}

    default void onMask(MaskEvent mask) {}

    default void onWordPoint(WordPointEvent point) {}

    default void onDone(GenerationResult result) {}

    GenerationListener NONE = new GenerationListener() {};
}

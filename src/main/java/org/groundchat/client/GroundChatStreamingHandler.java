package org.groundchat.client;

import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;

/** A streaming handler that also hears each region as soon as the server has located it. */
public interface GroundChatStreamingHandler extends StreamingChatResponseHandler {
    /** A region, before its mask (the final response's metadata carries every region with its mask and points). */
    default void onRegion(GroundChatRegion region) {}
}

package org.groundchat.chat;

import java.util.Map;

/** Where a turn's events go (the WebSocket connection that sent it). Implementations number and order them. */
public interface TurnSink {
    void send(String type, String turnId, Map<String, Object> payload);
}

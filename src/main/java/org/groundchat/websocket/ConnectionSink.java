package org.groundchat.websocket;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import io.quarkus.websockets.next.WebSocketConnection;
import java.util.LinkedHashMap;
import java.util.Map;
import org.groundchat.chat.TurnSink;
import org.jboss.logging.Logger;

/**
 * Sends a connection's events in order, each with {@code seq} (1, 2, ... per connection) and {@code turnId}.
 * Sending blocks the answer thread until the frame is written, so events never overtake each other.
 */
final class ConnectionSink implements TurnSink {
    private static final Logger LOG = Logger.getLogger(ConnectionSink.class);
    static final ObjectMapper JSON = new ObjectMapper().registerModule(new JavaTimeModule())
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS);

    private final WebSocketConnection connection;
    private long seq;
    private volatile boolean closed;

    ConnectionSink(WebSocketConnection connection) { this.connection = connection; }

    @Override
    public synchronized void send(String type, String turnId, Map<String, Object> payload) {
        if (closed || !connection.isOpen()) return;
        Map<String, Object> event = new LinkedHashMap<>();
        event.put("type", type);
        event.put("seq", ++seq);
        event.put("turnId", turnId);
        event.putAll(payload);
        try {
            String text = JSON.writeValueAsString(event);
            if (io.vertx.core.Context.isOnEventLoopThread()) {
                // never block an event loop; frames still leave in call order
                connection.sendText(text).subscribe().with(ok -> { }, e -> LOG.debugf("event not delivered: %s", e.getMessage()));
            } else {
                connection.sendTextAndAwait(text);
            }
        } catch (Exception e) {
            LOG.debugf("event %s not delivered: %s", type, e.getMessage());
        }
    }

    void closed() { closed = true; }
}

package org.groundchat.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.websockets.next.BasicWebSocketConnector;
import io.quarkus.websockets.next.WebSocketClientConnection;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/** A test WebSocket client that queues every event it receives. */
final class WsClient implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    final BlockingQueue<JsonNode> events = new LinkedBlockingQueue<>();
    final List<JsonNode> seen = new ArrayList<>();
    private final WebSocketClientConnection connection;

    WsClient(jakarta.enterprise.inject.Instance<BasicWebSocketConnector> connectors, URI base, String conversationId) {
        this(connectors, base, conversationId, org.groundchat.security.SignedInByDefault.BOOTSTRAP_TOKEN);
    }

    /** Signed in with this bearer token (null: no credentials). */
    WsClient(jakarta.enterprise.inject.Instance<BasicWebSocketConnector> connectors, URI base, String conversationId,
             String token) {
        BasicWebSocketConnector connector = connectors.get().baseUri(base).path("/ws/conversations/" + conversationId);
        if (token != null) connector = connector.addHeader("Authorization", "Bearer " + token);
        connection = connector
                .executionModel(BasicWebSocketConnector.ExecutionModel.NON_BLOCKING)
                .onTextMessage((c, m) -> {
                    try {
                        events.add(JSON.readTree(m));
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                })
                .connectAndAwait();
    }

    void send(String frame) {
        connection.sendTextAndAwait(frame);
    }

    void sendBinary(byte[] frame) {
        connection.sendBinaryAndAwait(io.vertx.core.buffer.Buffer.buffer(frame));
    }

    /** Events up to and including the first that matches; fails after the timeout. */
    List<JsonNode> until(Predicate<JsonNode> last, Duration timeout) throws InterruptedException {
        List<JsonNode> out = new ArrayList<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            JsonNode e = events.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (e == null) throw new AssertionError("timed out; got " + out);
            out.add(e);
            seen.add(e);
            if (last.test(e)) return out;
        }
    }

    List<JsonNode> untilType(String type) throws InterruptedException {
        return until(e -> type.equals(e.path("type").asText()), Duration.ofSeconds(60));
    }

    boolean isOpen() { return connection.isOpen(); }

    @Override
    public void close() {
        connection.closeAndAwait();
    }
}

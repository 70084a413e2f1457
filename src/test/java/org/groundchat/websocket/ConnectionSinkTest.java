package org.groundchat.websocket;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.quarkus.websockets.next.CloseReason;
import io.smallrye.mutiny.Uni;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** The outgoing queue: order, one frame in flight, never waiting on the client, a stalled client cut off. */
class ConnectionSinkTest {
    /** A client whose transport completes each frame only when the test says so (or at once). */
    static final class FakeClient implements ConnectionSink.Outbound {
        final boolean completesAtOnce;
        final List<String> written = new ArrayList<>();
        final List<CompletableFuture<Void>> pending = new ArrayList<>();
        CloseReason closedWith;

        FakeClient(boolean completesAtOnce) { this.completesAtOnce = completesAtOnce; }

        @Override
        public synchronized Uni<Void> sendText(String text) {
            written.add(text);
            if (completesAtOnce) return Uni.createFrom().voidItem();
            CompletableFuture<Void> f = new CompletableFuture<>();
            pending.add(f);
            return Uni.createFrom().completionStage(f);
        }

        @Override
        public synchronized Uni<Void> close(CloseReason reason) {
            closedWith = reason;
            return Uni.createFrom().voidItem();
        }

        @Override
        public boolean isOpen() { return closedWith == null; }

        void completeNext() {
            CompletableFuture<Void> f;
            synchronized (this) { f = pending.remove(0); }
            f.complete(null);
        }
    }

    private static JsonNode event(String text) throws Exception {
        return ConnectionSink.JSON.readTree(text);
    }

    @Test
    void eventsLeaveInOrderNumberedOneFrameAtATime() throws Exception {
        FakeClient client = new FakeClient(false);
        ConnectionSink sink = new ConnectionSink(client, 1 << 20);
        for (int i = 0; i < 5; i++) sink.send("text", "t1", Map.of("delta", "w" + i));
        assertEquals(1, client.written.size(), "the second frame waits until the transport took the first");
        for (int i = 1; i < 5; i++) {
            client.completeNext();
            assertEquals(i + 1, client.written.size());
        }
        for (int i = 0; i < 5; i++) {
            JsonNode e = event(client.written.get(i));
            assertEquals(i + 1, e.path("seq").asInt());
            assertEquals("w" + i, e.path("delta").asText());
            assertEquals("t1", e.path("turnId").asText());
        }
    }

    @Test
    void framesCompletedAtOnceDrainWithoutDeepRecursion() {
        FakeClient client = new FakeClient(true);
        ConnectionSink sink = new ConnectionSink(client, 1 << 30);
        for (int i = 0; i < 50_000; i++) sink.send("text", "t", Map.of("delta", "x"));
        assertEquals(50_000, client.written.size());
        assertEquals(0, sink.pendingFrames());
    }

    @Test
    void aStalledClientNeverBlocksTheSenderAndIsCutOffPastItsLimit() {
        FakeClient stalled = new FakeClient(false); // takes one frame, then never completes it
        ConnectionSink sink = new ConnectionSink(stalled, 10_000);
        assertTimeoutPreemptively(Duration.ofSeconds(5), () -> {
            for (int i = 0; i < 1000; i++) sink.send("text", "t", Map.of("delta", "a few words of an answer"));
        });
        assertTrue(stalled.closedWith != null, "the slow client is disconnected");
        assertEquals(ConnectionSink.TOO_SLOW, stalled.closedWith.getCode());
        assertTrue(stalled.closedWith.getMessage().contains("too slow"), stalled.closedWith.getMessage());
        assertEquals(1, stalled.written.size(), "nothing more is written to it");
    }

    @Test
    void aStalledClientDoesNotDelayAnotherConnection() throws Exception {
        FakeClient stalled = new FakeClient(false);
        FakeClient reading = new FakeClient(true);
        ConnectionSink a = new ConnectionSink(stalled, 1 << 20);
        ConnectionSink b = new ConnectionSink(reading, 1 << 20);
        for (int i = 0; i < 100; i++) {
            a.send("text", "ta", Map.of("delta", "a" + i));
            b.send("text", "tb", Map.of("delta", "b" + i));
            assertEquals(i + 1, reading.written.size(), "b's event left at once, whatever a's client does");
        }
        assertEquals(1, stalled.written.size());
        assertNull(stalled.closedWith);
    }

    @Test
    void aCloseGoesOutAfterTheEventsQueuedBeforeIt() throws Exception {
        FakeClient client = new FakeClient(false);
        ConnectionSink sink = new ConnectionSink(client, 1 << 20);
        sink.send("error", null, Map.of("code", "frame_too_large", "reason", "why"));
        sink.closeAfterPending(new CloseReason(1009, "message too big"));
        sink.send("text", "t", Map.of("delta", "after the close"));
        assertNull(client.closedWith, "the error event is still in flight");
        client.completeNext();
        assertEquals(1009, client.closedWith.getCode());
        assertEquals(1, client.written.size(), "nothing is sent after the close");
        assertEquals("frame_too_large", event(client.written.get(0)).path("code").asText());
    }
}

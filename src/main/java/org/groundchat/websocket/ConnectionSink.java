package org.groundchat.websocket;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import io.quarkus.websockets.next.CloseReason;
import io.quarkus.websockets.next.WebSocketConnection;
import io.smallrye.mutiny.Uni;
import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.groundchat.chat.TurnSink;
import org.jboss.logging.Logger;

/**
 * Sends a connection's events in order, each with {@code seq} (1, 2, ... per connection) and {@code turnId}.
 *
 * <p>Sending never waits for the client: an event joins this connection's outgoing queue and the caller (the thread
 * that decodes answers, possibly for many conversations at once) goes on. One frame is in flight at a time, the next
 * leaves when the transport has taken the previous one, so events never overtake each other. A client that stops
 * reading lets its queue grow; past {@code maxPendingBytes} it is disconnected (close 1008 with the reason) and its
 * events are dropped, so a stalled socket costs bounded memory and never delays anyone else.
 */
final class ConnectionSink implements TurnSink {
    private static final Logger LOG = Logger.getLogger(ConnectionSink.class);
    static final ObjectMapper JSON = new ObjectMapper().registerModule(new JavaTimeModule())
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS);
    /** RFC 6455 1008 (policy violation): the client broke the rule "read what you asked for". */
    static final int TOO_SLOW = 1008;

    /** What the sink needs of a WebSocket connection (a seam for the unit test's stalled client). */
    interface Outbound {
        Uni<Void> sendText(String text);

        Uni<Void> close(CloseReason reason);

        boolean isOpen();
    }

    private final Outbound out;
    private final long maxPendingBytes;
    private final ArrayDeque<Object> queue = new ArrayDeque<>(); // String frames, or the CloseReason that ends them
    private long seq;
    private long pendingBytes;
    private boolean inFlight;
    private boolean draining;
    private boolean closing;
    private volatile boolean closed;

    ConnectionSink(WebSocketConnection connection, long maxPendingBytes) {
        this(new Outbound() {
            @Override public Uni<Void> sendText(String text) { return connection.sendText(text); }
            @Override public Uni<Void> close(CloseReason reason) { return connection.close(reason); }
            @Override public boolean isOpen() { return connection.isOpen(); }
        }, maxPendingBytes);
    }

    ConnectionSink(Outbound out, long maxPendingBytes) {
        this.out = out;
        this.maxPendingBytes = maxPendingBytes;
    }

    @Override
    public void send(String type, String turnId, Map<String, Object> payload) {
        if (closed || !out.isOpen()) return;
        String text;
        boolean tooSlow = false;
        synchronized (this) {
            if (closing) return;
            Map<String, Object> event = new LinkedHashMap<>();
            event.put("type", type);
            event.put("seq", ++seq);
            event.put("turnId", turnId);
            event.putAll(payload);
            try {
                text = JSON.writeValueAsString(event);
            } catch (Exception e) {
                LOG.errorf("event %s could not be written: %s", type, e.getMessage());
                return;
            }
            pendingBytes += text.length();
            if (pendingBytes <= maxPendingBytes) {
                queue.add(text);
            } else {
                LOG.infof("WebSocket client too slow: %d bytes of events unread; disconnecting it", pendingBytes);
                queue.clear();
                pendingBytes = 0;
                closing = true;
                tooSlow = true;
            }
        }
        if (tooSlow) {
            // not behind the frame in flight: that one waits on the client that stopped reading
            out.close(new CloseReason(TOO_SLOW, "client too slow: events were not read")).subscribe()
                    .with(ok -> { }, e -> LOG.debugf("close of a slow client failed: %s", e.getMessage()));
            return;
        }
        drain();
    }

    /**
     * Closes the connection once the events queued before this call have gone out, or after {@link #CLOSE_GRACE_SECONDS}
     * at the latest: a client that stopped reading never lets the frame in flight complete.
     */
    void closeAfterPending(CloseReason reason) {
        synchronized (this) {
            if (closing) return;
            closing = true;
            queue.add(reason);
        }
        drain();
        CLOSE_TIMER.schedule(() -> {
            if (out.isOpen()) out.close(reason).subscribe().with(ok -> { }, e -> LOG.debugf("late close failed: %s", e.getMessage()));
        }, CLOSE_GRACE_SECONDS, TimeUnit.SECONDS);
    }

    static final int CLOSE_GRACE_SECONDS = 10;
    private static final ScheduledExecutorService CLOSE_TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "groundchat-ws-close");
        t.setDaemon(true);
        return t;
    });

    /**
     * Sends queued frames one at a time. A loop, not a chain of callbacks: when the transport completes a frame at
     * once (in this call), the loop takes the next instead of recursing once per frame.
     */
    private void drain() {
        synchronized (this) {
            if (draining) return;
            draining = true;
        }
        while (true) {
            Object next;
            synchronized (this) {
                if (inFlight || queue.isEmpty() || closed) {
                    draining = false;
                    return;
                }
                next = queue.poll();
                inFlight = true;
                if (next instanceof String s) pendingBytes -= s.length();
            }
            try {
                Uni<Void> sending = next instanceof CloseReason reason ? out.close(reason) : out.sendText((String) next);
                sending.subscribe().with(ok -> sent(), e -> {
                    LOG.debugf("event not delivered: %s", e.getMessage());
                    sent();
                });
            } catch (RuntimeException e) { // a transport that throws instead of failing the Uni must not wedge the queue
                LOG.debugf("event not delivered: %s", e.getMessage());
                sent();
            }
        }
    }

    private void sent() {
        synchronized (this) {
            inFlight = false;
        }
        drain();
    }

    /** Frames and bytes waiting to go out (for tests and diagnostics). */
    synchronized int pendingFrames() { return queue.size() + (inFlight ? 1 : 0); }

    void closed() {
        closed = true;
        synchronized (this) {
            queue.clear();
            pendingBytes = 0;
        }
    }
}

package org.groundchat.websocket;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.handler.codec.http.websocketx.CorruptedWebSocketFrameException;
import io.netty.handler.codec.http.websocketx.WebSocketCloseStatus;
import io.quarkus.websockets.next.CloseReason;
import io.quarkus.websockets.next.OnBinaryMessage;
import io.quarkus.websockets.next.OnClose;
import io.quarkus.websockets.next.OnError;
import io.quarkus.websockets.next.OnOpen;
import io.quarkus.websockets.next.OnTextMessage;
import io.quarkus.websockets.next.OpenConnections;
import io.smallrye.common.annotation.Blocking;
import io.quarkus.websockets.next.PathParam;
import io.quarkus.websockets.next.WebSocket;
import io.quarkus.websockets.next.WebSocketConnection;
import io.vertx.core.buffer.Buffer;
import io.quarkus.security.identity.SecurityIdentity;
import jakarta.inject.Inject;
import org.groundchat.security.Caller;
import org.groundchat.chat.Quotas;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.groundchat.chat.ChatException;
import org.groundchat.chat.Reasons;
import org.groundchat.chat.ConversationEvents;
import org.groundchat.chat.ConversationService;
import org.groundchat.chat.Ids;
import org.groundchat.chat.TurnCoordinator;
import org.groundchat.chat.TurnRequest;
import org.groundchat.persistence.DatabaseOutage;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * {@code /ws/conversations/{id}}: a client sends user turns, cancel and regenerate frames; the server streams the
 * answer's events (numbered per connection, see {@link ConnectionSink}). A malformed frame gets an error event and
 * the connection stays open. A connection that closes cancels the answer it started unless someone resumes or
 * watches it within groundchat.websocket.reconnect-grace.
 */
@WebSocket(path = "/ws/conversations/{id}")
public class ChatSocket {
    private static final Logger LOG = Logger.getLogger(ChatSocket.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Frames above this are refused with an event (the transport itself accepts up to
     *  quarkus.websockets-next.server.max-message-size, which is set higher so the client hears why). */
    static final int MAX_FRAME_CHARS = 64 * 1024;
    private static final Map<String, ConnectionSink> SINKS = new ConcurrentHashMap<>();
    /** The account each connection signed in as (the upgrade request's cookie or bearer token). */
    private static final Map<String, UUID> ACCOUNTS = new ConcurrentHashMap<>();

    @Inject
    WebSocketConnection connection;
    @Inject
    OpenConnections open;
    @Inject
    TurnCoordinator turns;
    @Inject
    ConversationService conversations;
    @Inject
    SecurityIdentity identity;
    @Inject
    Quotas quotas;
    @Inject
    ConversationEvents events;
    /** The transport's message limit (one frame or all fragments of a message), in bytes. */
    @ConfigProperty(name = "quarkus.websockets-next.server.max-message-size", defaultValue = "262144")
    int maxMessageBytes;
    /** Unsent event bytes a connection may have queued before it is dropped as too slow ({@link ConnectionSink}). */
    @ConfigProperty(name = "groundchat.websocket.max-pending-bytes", defaultValue = "4194304")
    long maxPendingBytes;

    @OnOpen
    public void open(@PathParam("id") String id) {
        // the answer thread sends later, outside this connection's CDI session: it needs the connection itself,
        // not the session-scoped proxy injected here
        var opened = open.findByConnectionId(connection.id());
        if (opened.isEmpty()) return; // the client left during the upgrade: nobody to serve
        ConnectionSink sink = new ConnectionSink(opened.get(), maxPendingBytes);
        SINKS.put(connection.id(), sink);
        OversizedFrameGuard.onOversizedFrame(opened.get(), () -> refuseTooLarge(sink));
        try {
            UUID account = Caller.of(identity).accountId();
            UUID conversationId = Ids.parse(id, "conversation");
            conversations.requireAccess(conversationId, account);
            quotas.openSocket(account);
            ACCOUNTS.put(connection.id(), account); // counted: released in close
            events.subscribe(conversationId, sink); // answers sent by other sockets, here or on other replicas
        } catch (ChatException e) {
            sink.send("error", null, errorBody(e));
            sink.closeAfterPending(CloseReason.NORMAL);
        } catch (RuntimeException e) {
            // the access check reads the database: an outage is said before the close, like any other refusal
            boolean outage = DatabaseOutage.isCause(e);
            if (!outage) LOG.error("WebSocket open failed", e);
            reply(sink, outage ? DatabaseOutage.CODE : "internal_error",
                    outage ? DatabaseOutage.REASON : "The connection could not be opened.");
            sink.closeAfterPending(CloseReason.NORMAL);
        }
    }

    @OnTextMessage
    @Blocking
    public void message(String frame, @PathParam("id") String id) {
        ConnectionSink sink = SINKS.get(connection.id());
        // a connection refused at open (no access, no quota) is closing: what it sends meanwhile is not served
        if (!ACCOUNTS.containsKey(connection.id())) return;
        try {
            if (frame.length() > MAX_FRAME_CHARS) {
                throw ChatException.badRequest("frame_too_large", "The frame has " + frame.length()
                        + " characters; the limit is " + MAX_FRAME_CHARS + ".");
            }
            UUID conversationId = Ids.parse(id, "conversation");
            JsonNode node;
            try {
                node = JSON.readTree(frame);
            } catch (Exception e) {
                throw ChatException.badRequest("invalid_frame", "The frame is not valid JSON.");
            }
            if (node == null || !node.isObject()) throw ChatException.badRequest("invalid_frame", "The frame must be a JSON object.");
            String type = node.path("type").asText("");
            switch (type) {
                case "user_turn" -> {
                    TurnRequest req;
                    try {
                        req = JSON.treeToValue(node, TurnRequestFrame.class).toRequest();
                    } catch (Exception e) {
                        throw ChatException.badRequest("invalid_frame", "The user_turn frame is malformed: " + shortMessage(e));
                    }
                    turns.submitUserTurn(conversationId, ACCOUNTS.get(connection.id()), req, sink);
                }
                case "cancel" -> {
                    if (!turns.cancel(conversationId)) {
                        throw ChatException.badRequest("nothing_to_cancel", "No answer is running in this conversation.");
                    }
                }
                case "regenerate" -> turns.regenerate(conversationId, ACCOUNTS.get(connection.id()), sink);
                case "resume" -> {
                    JsonNode after = node.path("after");
                    if (!after.isMissingNode() && !(after.canConvertToInt() && after.isIntegralNumber() && after.asInt() >= 0)) {
                        throw ChatException.badRequest("invalid_frame", "after must be the last event index seen (>= 0).");
                    }
                    String seen = node.hasNonNull("turnId") ? node.path("turnId").asText() : null;
                    events.resume(conversationId, sink, connection.id(), seen, after.asInt(0));
                }
                default -> throw ChatException.badRequest("unknown_type", "Unknown frame type '" + type
                        + "' (expected user_turn, cancel, regenerate or resume).");
            }
        } catch (ChatException e) {
            if (sink != null) sink.send("error", null, errorBody(e));
        } catch (RuntimeException e) {
            if (DatabaseOutage.isCause(e)) {
                LOG.warnf("WebSocket frame refused, database unavailable: %s", e.getMessage());
                reply(sink, DatabaseOutage.CODE, DatabaseOutage.REASON);
                return;
            }
            // anything else is our fault: the client still hears about it, and the connection stays usable
            LOG.error("WebSocket frame failed", e);
            reply(sink, "internal_error", "The frame could not be handled.");
        }
    }

    @OnBinaryMessage
    public void binary(Buffer frame) {
        if (!ACCOUNTS.containsKey(connection.id())) return;
        reply(SINKS.get(connection.id()), "binary_not_supported", "Send JSON text frames; binary frames are not understood.");
    }

    /**
     * A message over {@code quarkus.websockets-next.server.max-message-size}: Vert.x' frame aggregator refuses it
     * (it drops the message and the fragments still to come, the connection stays open) and reports an
     * IllegalStateException here. The client hears why, then the connection closes with 1009, the close code RFC
     * 6455 gives for "a message that is too big for it to process" (a client may still be sending the rest of a
     * huge message; closing stops it, and Vert.x drops what arrives meanwhile).
     */
    @OnError
    @Blocking
    public void transportRefused(IllegalStateException e) {
        ConnectionSink sink = SINKS.get(connection.id());
        if (!isOverMessageLimit(e)) {
            LOG.error("WebSocket failure", e);
            reply(sink, "internal_error", "The connection failed; it is closed.");
            closeAfter(sink, new CloseReason(WebSocketCloseStatus.INTERNAL_SERVER_ERROR.code()));
            return;
        }
        refuseTooLarge(sink);
    }

    /** Closes once the events already queued (the reason for closing among them) have gone out. */
    private void closeAfter(ConnectionSink sink, CloseReason reason) {
        if (sink != null) {
            sink.closeAfterPending(reason);
        } else {
            connection.close(reason).subscribe().with(ok -> { }, e -> LOG.debugf("close failed: %s", e.getMessage()));
        }
    }

    /**
     * A message over the transport's limit, or a single frame over quarkus.websockets-next.server.max-frame-size that
     * Netty's decoder refused from its header ({@link OversizedFrameGuard}, on the event loop: nothing here waits).
     */
    private void refuseTooLarge(ConnectionSink sink) {
        reply(sink, "frame_too_large", "The frame is larger than the limit of " + mebibytes(maxMessageBytes)
                + "; the connection is closed.");
        closeAfter(sink, new CloseReason(WebSocketCloseStatus.MESSAGE_TOO_BIG.code(), "message too big"));
    }

    /**
     * Any other frame Netty's decoder refuses (a protocol violation): Vert.x has closed the TCP connection already
     * (before this runs), so nobody is left to tell. Not a server fault.
     */
    @OnError
    public void frameCutOff(CorruptedWebSocketFrameException e) {
        LOG.debugf("WebSocket closed by the transport: %s", e.getMessage());
    }

    /** Vert.x' words for a message over its limit ("... to overflow max message size of N"). */
    static boolean isOverMessageLimit(IllegalStateException e) {
        return e.getMessage() != null && e.getMessage().contains("max message size");
    }

    private static String mebibytes(int bytes) {
        return bytes % (1024 * 1024) == 0 ? bytes / (1024 * 1024) + " MiB" : bytes + " bytes";
    }

    private static Map<String, Object> errorBody(ChatException e) {
        return e.retryAfterSeconds() == null ? Map.of("code", e.code(), "reason", e.reason())
                : Map.of("code", e.code(), "reason", e.reason(), "retryAfter", e.retryAfterSeconds());
    }

    /** An error event, unless the connection has closed meanwhile (its sink is gone: nobody left to tell). */
    private static void reply(ConnectionSink sink, String code, String reason) {
        if (sink != null) sink.send("error", null, Map.of("code", code, "reason", reason));
    }

    /**
     * After the answers have ended (TurnCoordinator's graceful stop observes the same event earlier): every socket gets
     * its queued events, then close 1012 ("service restart"), so clients reconnect, through the balancer, elsewhere.
     */
    static void closeAllForRestart() {
        CloseReason restart = new CloseReason(1012, "server restarting");
        SINKS.values().forEach(s -> s.closeAfterPending(restart));
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (!SINKS.isEmpty() && System.nanoTime() < deadline) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    @OnClose
    public void close(@PathParam("id") String id) {
        ConnectionSink sink = SINKS.remove(connection.id());
        UUID account = ACCOUNTS.remove(connection.id());
        if (account != null) quotas.closeSocket(account);
        if (sink == null) return; // the open callback never ran (e.g. the app stopped first): nothing was started
        sink.closed();
        try {
            UUID conversationId = UUID.fromString(id);
            events.unsubscribe(conversationId, sink);
            turns.senderLeft(conversationId, sink);
        } catch (IllegalArgumentException ignored) {
            // an id that was never a conversation has nothing running
        }
    }

    private static String shortMessage(Exception e) {
        return Reasons.fromParser(e.getMessage());
    }
}

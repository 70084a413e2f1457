package org.groundchat.chat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Event;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.groundchat.persistence.NotifyChannel;
import org.jboss.logging.Logger;

/**
 * Every socket open on a conversation sees its answers, whichever socket (or replica) sent the turn: a turn's events
 * go to the socket that sent it, to the other sockets of that conversation on this replica, and through
 * {@link NotifyChannel} to the sockets on the other replicas. A cancel for an answer running on another replica
 * travels the same way ({@link CancelRequested}).
 */
@ApplicationScoped
public class ConversationEvents {
    private static final Logger LOG = Logger.getLogger(ConversationEvents.class);
    /** As the sockets write events (instants as ISO-8601 text), so a relayed event reads the same. */
    private static final ObjectMapper JSON = new ObjectMapper().registerModule(new JavaTimeModule())
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS);
    private static final TypeReference<Map<String, Object>> MAP = new TypeReference<>() {};

    /** Another replica asks the one running this conversation's answer to stop it. */
    public record CancelRequested(UUID conversationId) {}

    @Inject
    NotifyChannel channel;
    @Inject
    AnswerClaims claims;
    @Inject
    Event<CancelRequested> cancels;
    /** Off: events stay on the replica that runs the answer (one replica, or sockets pinned by the balancer). */
    @ConfigProperty(name = "groundchat.replicas.events", defaultValue = "true")
    boolean acrossReplicas;

    private final Map<UUID, Set<TurnSink>> sockets = new ConcurrentHashMap<>();

    void start(@Observes StartupEvent e) {
        if (acrossReplicas) channel.open(this::received);
    }

    /** A socket that will see the conversation's answers until {@link #unsubscribe}. */
    public void subscribe(UUID conversationId, TurnSink socket) {
        sockets.computeIfAbsent(conversationId, k -> ConcurrentHashMap.newKeySet()).add(socket);
    }

    public void unsubscribe(UUID conversationId, TurnSink socket) {
        sockets.computeIfPresent(conversationId, (k, set) -> {
            set.remove(socket);
            return set.isEmpty() ? null : set;
        });
    }

    /** The sink of a turn sent through {@code origin}: it, then every other socket of the conversation, anywhere. */
    TurnSink fanOut(UUID conversationId, TurnSink origin) {
        return (type, turnId, payload) -> {
            origin.send(type, turnId, payload);
            deliver(conversationId, origin, type, turnId, payload);
            if (acrossReplicas) publish(conversationId, "event", type, turnId, payload);
        };
    }

    /** Asks the replica that runs the conversation's answer to cancel it. */
    void requestCancel(UUID conversationId) {
        publish(conversationId, "cancel", null, null, null);
    }

    private void deliver(UUID conversationId, TurnSink except, String type, String turnId, Map<String, Object> payload) {
        Set<TurnSink> set = sockets.get(conversationId);
        if (set == null) return;
        for (TurnSink s : set) {
            if (s != except) s.send(type, turnId, payload);
        }
    }

    private void publish(UUID conversationId, String kind, String type, String turnId, Map<String, Object> payload) {
        ObjectNode m = JSON.createObjectNode();
        m.put("replica", claims.replica());
        m.put("kind", kind);
        m.put("conversation", conversationId.toString());
        if (type != null) m.put("type", type);
        if (turnId != null) m.put("turn", turnId);
        try {
            if (payload != null) m.set("payload", JSON.valueToTree(payload));
            channel.publish(JSON.writeValueAsString(m));
        } catch (JsonProcessingException | RuntimeException ex) {
            // the answer goes on for the sockets here; only the other replicas miss this event
            LOG.warnf("an event was not sent to the other replicas: %s", ex.getMessage());
        }
    }

    private void received(String message) {
        JsonNode m;
        try {
            m = JSON.readTree(message);
        } catch (JsonProcessingException e) {
            return;
        }
        if (claims.replica().equals(m.path("replica").asText())) return; // this replica's own, delivered already
        UUID conversationId = UUID.fromString(m.path("conversation").asText());
        switch (m.path("kind").asText()) {
            case "cancel" -> cancels.fire(new CancelRequested(conversationId));
            case "event" -> {
                if (!sockets.containsKey(conversationId)) return;
                String turnId = m.hasNonNull("turn") ? m.path("turn").asText() : null;
                deliver(conversationId, null, m.path("type").asText(), turnId, JSON.convertValue(m.path("payload"), MAP));
            }
            default -> { }
        }
    }
}

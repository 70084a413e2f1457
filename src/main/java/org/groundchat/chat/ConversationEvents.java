package org.groundchat.chat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Event;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.groundchat.persistence.NotifyChannel;
import org.jboss.logging.Logger;

/**
 * Every socket open on a conversation sees its answers, whichever socket (or replica) sent the turn: a turn's events
 * go to the socket that sent it, to the other sockets of that conversation on this replica, and through
 * {@link NotifyChannel} to the sockets on the other replicas. Each event of a turn carries its {@code index} (1, 2,
 * ...); a socket that (re)connects while an answer runs asks to {@link #resume} after the last index it saw, and the
 * replica that runs the answer replays the rest. A cancel for an answer running on another replica travels the same
 * way ({@link CancelRequested}).
 */
@ApplicationScoped
public class ConversationEvents {
    private static final Logger LOG = Logger.getLogger(ConversationEvents.class);
    /** As the sockets write events (instants as ISO-8601 text), so a relayed event reads the same. */
    private static final ObjectMapper JSON = new ObjectMapper().registerModule(new JavaTimeModule())
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS);
    private static final TypeReference<Map<String, Object>> MAP = new TypeReference<>() {};
    private static final Set<String> FINAL = Set.of("done", "cancelled", "error");

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
    /** Answers running here, by conversation: their events so far, for sockets that resume. */
    private final Map<UUID, Broadcast> running = new ConcurrentHashMap<>();
    /** Sockets here waiting for another replica's replay, by the key their requests carry. */
    private final Map<String, TurnSink> resuming = new ConcurrentHashMap<>();
    /** Conversations that sockets on other replicas show, until when (System.nanoTime), from their announcements. */
    private final Map<UUID, Long> remoteWatch = new ConcurrentHashMap<>();
    /** How often a replica announces the conversations its sockets show; one is forgotten after three missed. */
    private static final Duration WATCH_EVERY = Duration.ofSeconds(5);
    private static final Duration WATCH_TTL = WATCH_EVERY.multipliedBy(3);
    private ScheduledExecutorService watchTimer;

    void start(@Observes StartupEvent e) {
        if (!acrossReplicas) return;
        channel.open(this::received);
        watchTimer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "groundchat-watch-announce");
            t.setDaemon(true);
            return t;
        });
        watchTimer.scheduleWithFixedDelay(() -> announceWatched(Set.copyOf(sockets.keySet())),
                WATCH_EVERY.toMillis(), WATCH_EVERY.toMillis(), TimeUnit.MILLISECONDS);
    }

    void stop(@Observes ShutdownEvent e) {
        if (watchTimer != null) watchTimer.shutdownNow();
    }

    /** A socket that will see the conversation's answers until {@link #unsubscribe}. */
    public void subscribe(UUID conversationId, TurnSink socket) {
        sockets.computeIfAbsent(conversationId, k -> ConcurrentHashMap.newKeySet()).add(socket);
        announceWatched(Set.of(conversationId));
    }

    public void unsubscribe(UUID conversationId, TurnSink socket) {
        sockets.computeIfPresent(conversationId, (k, set) -> {
            set.remove(socket);
            return set.isEmpty() ? null : set;
        });
        resuming.values().removeIf(s -> s == socket);
    }

    /**
     * Sends {@code socket} a {@code resumed} event ({@code running}: whether an answer runs in the conversation, here
     * or elsewhere), then the running answer's events with an index above {@code after}, or all of them when
     * {@code turnId} (the turn the client saw last; null: any) is not the running one. Events that also arrive live
     * meanwhile come twice with the same index; the client skips indexes it has.
     */
    public void resume(UUID conversationId, TurnSink socket, String socketKey, String turnId, int after) {
        Broadcast here = running.get(conversationId);
        if (here != null) {
            socket.send("resumed", null, Map.of("running", true, "after", after));
            here.replay(socket, here.from(turnId, after));
            return;
        }
        boolean elsewhere = acrossReplicas && claims.heldElsewhere(conversationId);
        socket.send("resumed", null, Map.of("running", elsewhere, "after", after));
        if (!elsewhere) return;
        String key = claims.replica() + "/" + socketKey;
        resuming.put(key, socket);
        ObjectNode m = message(conversationId, "resume");
        m.put("after", after);
        if (turnId != null) m.put("turn", turnId);
        m.put("socket", key);
        send(m);
    }

    /** The sink of a turn sent through {@code origin}: it, then every other socket of the conversation, anywhere. */
    TurnSink fanOut(UUID conversationId, TurnSink origin) {
        Broadcast b = new Broadcast(conversationId, origin);
        running.put(conversationId, b);
        return b;
    }

    /**
     * Whether anyone still follows this turn: a socket of the conversation open here, or a resume of it (here or from
     * another replica) since it began.
     */
    boolean watched(UUID conversationId, TurnSink turnSink) {
        Set<TurnSink> set = sockets.get(conversationId);
        return (set != null && !set.isEmpty()) || (turnSink instanceof Broadcast b && b.resumed);
    }

    /** The turn is over (also one refused before it was queued): nothing of it is left to resume. */
    void ended(UUID conversationId, TurnSink turnSink) {
        if (turnSink instanceof Broadcast b) running.remove(conversationId, b);
    }

    /** Asks the replica that runs the conversation's answer to cancel it. */
    void requestCancel(UUID conversationId) {
        send(message(conversationId, "cancel"));
    }

    /** One turn's events: numbered, kept until the turn ends, sent to every socket of the conversation. */
    private final class Broadcast implements TurnSink {
        private final UUID conversationId;
        private final TurnSink origin;
        private final List<Logged> log = new ArrayList<>();
        private volatile String turnId;
        /** Someone asked to resume it (a sender that reconnected, maybe on another replica). */
        volatile boolean resumed;

        Broadcast(UUID conversationId, TurnSink origin) {
            this.conversationId = conversationId;
            this.origin = origin;
        }

        @Override
        public synchronized void send(String type, String turnId, Map<String, Object> payload) {
            if (turnId != null) this.turnId = turnId;
            Map<String, Object> indexed = new LinkedHashMap<>(payload);
            indexed.put("index", log.size() + 1);
            origin.send(type, turnId, indexed);
            deliverHere(conversationId, origin, type, turnId, indexed);
            Logged event = new Logged(type, turnId, indexed);
            log.add(event);
            // written for the other replicas only while one of them has a socket on this conversation
            if (acrossReplicas && watchedElsewhere(conversationId)) publish(conversationId, event, null);
            if (FINAL.contains(type)) running.remove(conversationId, this);
        }

        /** Where to replay from: after {@code after} for the same turn, from its start for another (or none). */
        int from(String seenTurn, int after) {
            return seenTurn == null || seenTurn.equals(turnId) ? after : 0;
        }

        /** Under the same lock as {@link #send}: no event slips between the replay and the live ones. */
        synchronized void replay(TurnSink socket, int after) {
            resumed = true;
            for (int i = Math.max(0, after); i < log.size(); i++) {
                Logged e = log.get(i);
                socket.send(e.type(), e.turnId(), e.payload());
            }
        }

        /** The same, for a socket on another replica: each event is sent to that socket alone. */
        synchronized void replay(String socketKey, int after) {
            resumed = true;
            for (int i = Math.max(0, after); i < log.size(); i++) publish(conversationId, log.get(i), socketKey);
        }
    }

    /** Sends an event to this replica's sockets of the conversation, but {@code except} (null: to all). */
    private void deliverHere(UUID conversationId, TurnSink except, String type, String turnId,
                             Map<String, Object> payload) {
        Set<TurnSink> set = sockets.get(conversationId);
        if (set == null) return;
        for (TurnSink s : set) {
            if (s != except) s.send(type, turnId, payload);
        }
    }

    private ObjectNode message(UUID conversationId, String kind) {
        ObjectNode m = JSON.createObjectNode();
        m.put("replica", claims.replica());
        m.put("kind", kind);
        m.put("conversation", conversationId.toString());
        return m;
    }

    /** One event of a turn as its sockets got it (the payload with its index). */
    private record Logged(String type, String turnId, Map<String, Object> payload) {}

    /** Sends an event to the other replicas, for every socket of the conversation or ({@code socketKey}) one. */
    private void publish(UUID conversationId, Logged e, String socketKey) {
        ObjectNode m = message(conversationId, "event");
        m.put("type", e.type());
        if (e.turnId() != null) m.put("turn", e.turnId());
        if (socketKey != null) m.put("socket", socketKey);
        try {
            m.set("payload", JSON.valueToTree(e.payload()));
        } catch (RuntimeException ex) {
            LOG.warnf("an event was not sent to the other replicas: %s", ex.getMessage());
            return;
        }
        send(m);
    }

    /** Whether a socket on another replica has said, lately, that it shows this conversation. */
    private boolean watchedElsewhere(UUID conversationId) {
        Long until = remoteWatch.get(conversationId);
        return until != null && until > System.nanoTime();
    }

    /**
     * Tells the other replicas which conversations have sockets here (all of them, in one message, every
     * {@link #WATCH_EVERY}; a new socket's conversation at once), so that only events someone elsewhere shows travel.
     */
    private void announceWatched(Set<UUID> conversations) {
        if (!acrossReplicas || conversations.isEmpty()) return;
        ObjectNode m = message(conversations.iterator().next(), "watch");
        var list = m.putArray("conversations");
        conversations.forEach(c -> list.add(c.toString()));
        send(m);
    }

    private void send(ObjectNode m) {
        try {
            channel.publish(JSON.writeValueAsString(m));
        } catch (JsonProcessingException | RuntimeException ex) {
            // the answer goes on for the sockets here; only the other replicas miss this message
            LOG.warnf("a message was not sent to the other replicas: %s", ex.getMessage());
        }
    }

    private static String turnId(JsonNode m) {
        return m.hasNonNull("turn") ? m.path("turn").asText() : null;
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
            case "watch" -> {
                long until = System.nanoTime() + WATCH_TTL.toNanos();
                for (JsonNode c : m.path("conversations")) remoteWatch.put(UUID.fromString(c.asText()), until);
                remoteWatch.values().removeIf(t -> t < System.nanoTime());
            }
            case "resume" -> {
                remoteWatch.put(conversationId, System.nanoTime() + WATCH_TTL.toNanos());
                Broadcast b = running.get(conversationId);
                if (b != null) b.replay(m.path("socket").asText(), b.from(turnId(m), m.path("after").asInt()));
            }
            case "event" -> {
                Map<String, Object> payload = JSON.convertValue(m.path("payload"), MAP);
                String type = m.path("type").asText();
                if (m.hasNonNull("socket")) { // a replay for one socket
                    TurnSink target = resuming.get(m.path("socket").asText());
                    if (target != null) target.send(type, turnId(m), payload);
                    return;
                }
                deliverHere(conversationId, null, type, turnId(m), payload);
            }
            default -> { }
        }
    }
}

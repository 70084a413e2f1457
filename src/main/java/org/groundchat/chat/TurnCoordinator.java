package org.groundchat.chat;

import io.quarkus.runtime.ShutdownDelayInitiatedEvent;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Function;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.groundchat.chat.view.MessageJson;
import org.groundchat.inference.CancellationToken;
import org.groundchat.inference.GenerationEvents.FinishReason;
import org.groundchat.inference.GenerationEvents.GenerationResult;
import org.groundchat.inference.GenerationEvents.MaskEvent;
import org.groundchat.inference.GenerationEvents.RegionEvent;
import org.groundchat.inference.GenerationEvents.WordPointEvent;
import org.groundchat.inference.GenerationListener;
import org.groundchat.inference.GenerationOptions;
import org.groundchat.inference.GenerationRequest;
import org.groundchat.inference.ChatEngine;
import org.groundchat.inference.InferenceException;
import org.groundchat.inference.PixelBox;
import org.groundchat.persistence.AnswerStatus;
import org.groundchat.persistence.DatabaseOutage;
import org.groundchat.persistence.EmbeddedPostgresSupervisor;
import org.groundchat.inference.PromptTurn;
import org.jboss.logging.Logger;

/**
 * Runs answers on a bounded pool: at most one active answer per conversation, the others wait in a visible queue
 * (each waiting turn is told its position). Every answer is stored as it ends: complete, cancelled or failed.
 * Each account may have at most {@code groundchat.limits.queued-answers} answers waiting or running across all its
 * conversations ({@link AnswerSlot}); a turn over that limit is refused with 429 {@code rate_limited} before anything
 * is stored.
 */
@ApplicationScoped
public class TurnCoordinator {
    private static final Logger LOG = Logger.getLogger(TurnCoordinator.class);
    static final int MAX_REGIONS = 16;
    static final String INTERRUPTED_BY_OUTAGE = "interrupted: the database was unavailable while this answer was generated";

    private record PendingEnding(UUID messageId, UUID replaces, String partial, String reason) {}

    @Inject
    ChatEngine engine;
    @Inject
    TurnStore store;
    @Inject
    ChatMetrics metrics;
    @Inject
    AnswerClaims claims;
    @Inject
    ConversationEvents events;
    /**
     * Answers generated at the same time. The engine decodes answers that run together in one batch
     * (groundchat.inference.max-batch), so a worker per batch place keeps the batch full.
     */
    @ConfigProperty(name = "groundchat.inference.workers", defaultValue = "6")
    int workers;
    @ConfigProperty(name = "groundchat.inference.max-queue", defaultValue = "64")
    int maxQueue;
    @ConfigProperty(name = "groundchat.limits.queued-answers", defaultValue = "4")
    int answersPerAccount;
    /**
     * How often waiting turns hear their new place in the queue. Not at every move: with 28 turns waiting, telling
     * each one at every start was 28 events per answer, more than its words and regions together.
     */
    @ConfigProperty(name = "groundchat.inference.queue-position-interval", defaultValue = "1s")
    Duration positionInterval;
    /**
     * On SIGTERM: how long running and waiting answers may take to finish before they are stopped and stored failed
     * (a Kubernetes pod's terminationGracePeriodSeconds must be longer).
     */
    @ConfigProperty(name = "groundchat.shutdown.grace", defaultValue = "20s")
    Duration shutdownGrace;
    /** How long an answer whose sender went away waits for someone to watch it (resume) before it is cancelled. */
    @ConfigProperty(name = "groundchat.websocket.reconnect-grace", defaultValue = "10s")
    Duration reconnectGrace;
    static final String STOPPED_BY_SHUTDOWN = "the server stopped before the answer was complete";
    /** What a client hears of an answer that failed on an unexpected error (the log has the details). */
    private static final String ANSWER_FAILED = "The answer failed: internal error.";
    /** Set when the server begins to stop: no turn is admitted any more. */
    private volatile boolean stopping;
    private volatile boolean stopped;
    /** Seconds a client refused for too many answers is told to wait: about the length of one answer. */
    static final int ANSWER_RETRY_SECONDS = 5;

    private ThreadPoolExecutor pool;
    /** Renews this replica's claims and ends answers that other replicas left behind ({@link AnswerClaims}). */
    private ScheduledExecutorService leases;
    /** Tells waiting turns their new places ({@link #announcePositions}). */
    private ScheduledExecutorService positionUpdates;
    private final Map<UUID, Turn> active = new ConcurrentHashMap<>();
    /** Answers that ended while the database was unavailable, by message id: stored as failed once it returns. */
    private final Map<UUID, PendingEnding> pendingEndings = new ConcurrentHashMap<>();
    private final List<Turn> waiting = new ArrayList<>();
    /** Answers waiting or running per account (only accounts with at least one): {@link AnswerSlot}s held. */
    private final Map<UUID, Integer> accountAnswers = new ConcurrentHashMap<>();
    /**
     * Turns admitted and not yet started, guarded by {@code waiting}. The queue limit counts these from the moment of
     * admission: a turn joins {@code waiting} only after its database insert, so a burst checked against
     * {@code waiting} alone would all pass before any of them joined it.
     */
    private int admitted;

    /** A turn being answered or waiting: its cancellation token and the sink it reports to. */
    public static final class Turn {
        final UUID turnId = UUID.randomUUID();
        final String id = turnId.toString();
        final UUID conversationId;
        /** The connection that sent the turn. */
        final TurnSink origin;
        /**
         * Where the turn's events go: once admitted, the origin and every other socket of the conversation, on any
         * replica ({@link ConversationEvents}).
         */
        volatile TurnSink sink;
        final CancellationToken cancel = new CancellationToken();
        final long queuedAt = System.nanoTime();
        /** Whether the answer's end was counted; only the answer's own thread reads and writes it. */
        boolean metered;
        /** The place in the queue this turn was last told (MAX_VALUE: none yet), guarded by {@code waiting}. */
        int announcedPosition;
        /** The account's place this answer holds (null for {@link #whileNoTurn}'s guard); given back as it ends. */
        volatile AnswerSlot slot;
        /** Stopped because the server stops: stored failed, not cancelled. */
        volatile boolean stoppedByShutdown;
        /** Whether this turn holds its conversation's claim in the database (all replicas see it). */
        final AtomicBoolean claimed = new AtomicBoolean();
        /** When the claim was committed (System.nanoTime). */
        volatile long claimedAt;

        Turn(UUID conversationId, TurnSink origin) {
            this.conversationId = conversationId;
            this.origin = origin;
            this.sink = origin;
        }

        public String id() { return id; }
    }

    /**
     * One of an account's places for an answer waiting or running. Taken before anything of the turn is stored; a
     * turn that is admitted takes it over and gives it back when its answer ends (complete, cancelled, failed, or
     * cancelled while still waiting), before the final event goes out, so a client that sends its next turn on
     * {@code done} finds its place free. Until then, closing the slot gives it back: a refused or failed submission
     * never keeps it. Giving back twice is harmless.
     */
    public final class AnswerSlot implements AutoCloseable {
        private final UUID account;
        private final AtomicBoolean held = new AtomicBoolean(true);
        private volatile boolean takenOver;

        private AnswerSlot(UUID account) {
            this.account = account;
        }

        void release() {
            if (held.compareAndSet(true, false)) {
                accountAnswers.computeIfPresent(account, (k, n) -> n <= 1 ? null : n - 1);
            }
        }

        /** Gives the place back unless an admitted turn took it over. */
        @Override
        public void close() {
            if (!takenOver) release();
        }
    }

    /**
     * Takes one of the account's places for an answer, or throws 429 {@code rate_limited} when all are held. For
     * callers that store things before submitting the turn (the OpenAI adapter stores images and history first): take
     * the slot first, in try-with-resources, and pass it to {@link #submitUserTurn(UUID, UUID, TurnRequest, TurnSink,
     * AnswerSlot)}.
     */
    public AnswerSlot holdAnswerSlot(UUID account) {
        if (account == null) throw new ChatException(ChatException.Kind.UNAUTHENTICATED, "unauthenticated", "Sign in first.");
        boolean[] refused = {false};
        accountAnswers.compute(account, (k, n) -> {
            int held = n == null ? 0 : n;
            if (held >= answersPerAccount) {
                refused[0] = true;
                return n;
            }
            return held + 1;
        });
        if (refused[0]) {
            throw ChatException.rateLimited("You have " + answersPerAccount + " answers waiting or running, the most one "
                    + "account may have at once; wait until one ends or stop one.", ANSWER_RETRY_SECONDS);
        }
        return new AnswerSlot(account);
    }

    /** Answers of the account waiting or running now (for tests and diagnostics). */
    public int answersHeld(UUID account) {
        return accountAnswers.getOrDefault(account, 0);
    }

    void start(@Observes StartupEvent e) {
        pool = new ThreadPoolExecutor(workers, workers, 0, TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "groundchat-answer");
            t.setDaemon(true);
            return t;
        });
        metrics.queueDepth(this::queued);
        int failed = claims.releaseOwnLeftovers();
        if (failed > 0) LOG.warnf("%d answer(s) interrupted by a stopped server were marked failed", failed);
        long period = Math.max(200, claims.lease().toMillis() / 4);
        leases = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "groundchat-answer-leases");
            t.setDaemon(true);
            return t;
        });
        leases.scheduleWithFixedDelay(this::keepLeases, period, period, TimeUnit.MILLISECONDS);
        long positions = Math.max(10, positionInterval.toMillis());
        // its own thread: keepLeases may wait seconds on a database that is away
        positionUpdates = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "groundchat-queue-positions");
            t.setDaemon(true);
            return t;
        });
        positionUpdates.scheduleWithFixedDelay(this::announcePositions, positions, positions, TimeUnit.MILLISECONDS);
    }

    /**
     * Tells each waiting turn whose place moved since it last heard its new place. Under the {@code waiting} lock, so
     * a turn that leaves the queue cannot be told a place after its {@code started} (sending only queues the event).
     */
    void announcePositions() {
        synchronized (waiting) {
            for (int i = 0; i < waiting.size(); i++) {
                Turn w = waiting.get(i);
                // only up: the first place counts idle workers, which this index does not (a worker about to take
                // the turn ahead), so it could otherwise tell 1 and then 2
                if (w.announcedPosition > i + 1) {
                    w.announcedPosition = i + 1;
                    try {
                        w.sink.send("queued", w.id, Map.of("position", i + 1));
                    } catch (RuntimeException e) { // one broken sink must not end the announcements for all
                        LOG.warnf("queue place not sent: %s", e.getMessage());
                    }
                }
            }
        }
    }

    /**
     * Renews the claims of the answers running here, stops any whose claim was lost (this replica could not renew it
     * in time, and another may have taken the conversation over), and ends what dead replicas left "streaming".
     */
    private void keepLeases() {
        try {
            recordPendingEndings(); // endings an outage kept: stored before the sweep would mark them "interrupted"
            // a claim committed after the renewal began is not in its result, and is not lost
            long renewal = System.nanoTime();
            List<UUID> running = active.values().stream().filter(t -> t.claimed.get()).map(t -> t.turnId).toList();
            Map<UUID, UUID> held = claims.renew(running);
            for (Turn t : active.values()) {
                if (t.claimed.get() && t.claimedAt < renewal && !t.turnId.equals(held.get(t.conversationId))) {
                    LOG.warnf("the claim of an answer in conversation %s was lost; stopping it", t.conversationId);
                    t.cancel.cancel();
                }
            }
            int failed = claims.sweep();
            if (failed > 0) LOG.warnf("%d answer(s) left by a stopped server were marked failed", failed);
        } catch (RuntimeException e) {
            // a lost database: the leases run out and whoever comes next clears them
            LOG.warnf("answer leases not renewed: %s", e.getMessage());
        }
    }

    /**
     * Graceful stop (SIGTERM, a rolling restart): no new turns (503 server_stopping); answers running or waiting get
     * {@code groundchat.shutdown.grace} to finish, then the rest are stopped and stored failed with a reason. The
     * sockets are closed afterwards ({@code RestartingSockets}, 1012) so clients reconnect to another replica. It runs
     * at Quarkus' pre-shutdown ({@code quarkus.shutdown.delay-enabled}), while HTTP and WebSockets still serve: by
     * ShutdownEvent the server has closed the sockets, which would cancel every answer.
     */
    void drain(@Observes ShutdownDelayInitiatedEvent e) {
        stop(null);
    }

    void stop(@Observes ShutdownEvent e) {
        if (stopped) return; // drained already, while the server still served (ShutdownDelayInitiatedEvent)
        stopped = true;
        stopping = true;
        long deadline = System.nanoTime() + shutdownGrace.toNanos();
        try {
            while (answersInProgress() && System.nanoTime() < deadline) Thread.sleep(50);
            if (answersInProgress()) {
                LOG.warnf("stopping: %d answer(s) did not finish within %s and are stopped", active.size(), shutdownGrace);
                for (Turn t : active.values()) {
                    t.stoppedByShutdown = true;
                    t.cancel.cancel();
                }
            }
            pool.shutdown();
            pool.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
        } finally {
            if (leases != null) leases.shutdownNow();
            if (positionUpdates != null) positionUpdates.shutdownNow();
        }
    }

    /** Whether the server has begun to stop (no turn is admitted any more). */
    public boolean isStopping() {
        return stopping;
    }

    /** Whether answers interrupted by a database outage still wait for their end ("failed") to be stored. */
    public boolean hasUnrecordedEndings() {
        return !pendingEndings.isEmpty();
    }

    /** Answers running or waiting here (a deletion's guard is not one). */
    private boolean answersInProgress() {
        return active.values().stream().anyMatch(t -> t.slot != null);
    }

    /** Validates and stores a user turn, then queues its answer. Throws ChatException (nothing stored) on bad input. */
    public Turn submitUserTurn(UUID conversationId, UUID account, TurnRequest req, TurnSink sink) {
        return submitUserTurn(conversationId, account, req, sink, null);
    }

    /**
     * As {@link #submitUserTurn(UUID, UUID, TurnRequest, TurnSink)}, with the account's place for the answer already
     * taken ({@link #holdAnswerSlot}); null takes one here. An admitted turn takes the slot over.
     */
    public Turn submitUserTurn(UUID conversationId, UUID account, TurnRequest req, TurnSink sink, AnswerSlot slot) {
        String text = UserText.checked(req.text());
        List<PixelBox> drawn = parseRegions(req.regions());
        GenerationOptions options = options(req.options());
        UUID imageId = req.imageId() == null || req.imageId().isBlank() ? null : Ids.parse(req.imageId(), "image");
        Turn turn = reserve(conversationId, account, sink, slot);
        try {
            TurnStore.Accepted a = store.claimAndStoreUserTurn(turn.turnId, conversationId, account, text, imageId, drawn);
            if (a == null) throw ChatException.conflict("turn_in_progress", BUSY);
            claimed(turn);
            fanOut(turn);
            turn.sink.send("accepted", turn.id, Map.of("userMessage", a.userMessage()));
            enqueue(turn, a, options);
            return turn;
        } catch (RuntimeException | Error ex) {
            unreserve(turn);
            throw ex;
        }
    }

    /** Replaces the last answer of the conversation with a new one; it counts against the account's answers. */
    public Turn regenerate(UUID conversationId, UUID account, TurnSink sink) {
        Turn turn = reserve(conversationId, account, sink, null);
        try {
            claim(turn, BUSY);
            fanOut(turn);
            TurnStore.Accepted a = store.answerToRegenerate(conversationId);
            turn.sink.send("accepted", turn.id, Map.of("userMessage", a.userMessage(), "regenerate", true));
            enqueue(turn, a, GenerationOptions.greedy());
            return turn;
        } catch (RuntimeException | Error ex) {
            unreserve(turn);
            throw ex;
        }
    }

    /**
     * Runs generation outside a conversation (dense captions) through the same admission and pool as turns: it
     * holds one of the account's answers (429) and a place in the server's queue (503) until it ends, and runs on an
     * answer worker, so it is decoded together with the answers running then. The caller waits for the result;
     * {@code cancel} stops it (a waiting job then ends as soon as it starts).
     */
    public <T> T runAnswerJob(UUID account, CancellationToken cancel, Function<CancellationToken, T> job) {
        if (stopping) throw serverStopping();
        try (AnswerSlot slot = holdAnswerSlot(account)) {
            admit();
            Future<T> result;
            try {
                result = pool.submit(() -> {
                    leaveQueue();
                    return job.apply(cancel);
                });
            } catch (RejectedExecutionException e) { // the app is stopping
                leaveQueue();
                throw serverBusy();
            }
            try {
                return result.get();
            } catch (ExecutionException e) {
                if (e.getCause() instanceof RuntimeException re) throw re;
                if (e.getCause() instanceof Error err) throw err;
                throw new IllegalStateException(e.getCause());
            } catch (InterruptedException e) {
                cancel.cancel();
                Thread.currentThread().interrupt();
                throw serverBusy();
            }
        }
    }

    private static ChatException serverStopping() {
        return new ChatException(ChatException.Kind.UNAVAILABLE, "server_stopping", "The server is restarting; "
                + "reconnect and send the message again.");
    }

    private ChatException serverBusy() {
        return new ChatException(ChatException.Kind.UNAVAILABLE, "server_busy", "Too many answers are waiting (" + maxQueue
                + "); try again shortly.");
    }

    /**
     * Cancels the running or waiting answer of a conversation, here or (asked through {@link ConversationEvents}) on
     * the replica that runs it; false when there is none.
     */
    public boolean cancel(UUID conversationId) {
        Turn t = active.get(conversationId);
        if (t != null) {
            cancel(t);
            return true;
        }
        if (!claims.heldElsewhere(conversationId)) return false;
        events.requestCancel(conversationId);
        return true;
    }

    void cancelRequested(@Observes ConversationEvents.CancelRequested request) {
        Turn t = active.get(request.conversationId());
        if (t != null) cancel(t);
    }

    /** Cancels the answer of a conversation only if it reports to this sink (a client that cannot come back). */
    public void cancelIfOwnedBy(UUID conversationId, TurnSink sink) {
        Turn t = active.get(conversationId);
        if (t != null && t.origin == sink) cancel(t);
    }

    /**
     * The WebSocket that sent the conversation's answer went away: the answer goes on while anyone watches it (a
     * socket of the conversation is open here, or one resumed it, here or on another replica), and is cancelled when
     * nobody has come back within {@code groundchat.websocket.reconnect-grace}, so a dropped network does not cost
     * the answer but an abandoned one does not run to its end.
     */
    public void senderLeft(UUID conversationId, TurnSink sink) {
        Turn t = active.get(conversationId);
        if (t == null || t.origin != sink) return;
        if (reconnectGrace.isZero() || leases == null) {
            cancel(t);
            return;
        }
        leases.schedule(() -> {
            if (active.get(conversationId) == t && !events.watched(conversationId, t.sink)) cancel(t);
        }, reconnectGrace.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * A cancelled answer that is still waiting will only be stored as cancelled when a worker reaches it: it runs
     * nothing, so its account gets its place back at once instead of when the queue gets there.
     */
    private void cancel(Turn t) {
        t.cancel.cancel();
        synchronized (waiting) {
            if (waiting.contains(t)) releaseSlot(t);
        }
    }

    /**
     * Runs an action (deleting the conversation) while holding the conversation's turn slot: a turn that arrives
     * meanwhile gets turn_in_progress, one that arrives after finds the conversation gone (unknown_conversation),
     * and none can be half-stored into a conversation being deleted. 409 turn_in_progress while an answer runs.
     */
    public void whileNoTurn(UUID conversationId, Runnable action) {
        Turn guard = new Turn(conversationId, (type, turnId, payload) -> { });
        if (active.putIfAbsent(conversationId, guard) != null) {
            throw ChatException.conflict("turn_in_progress", "An answer is being generated; cancel it before deleting.");
        }
        try {
            claim(guard, "An answer is being generated; cancel it before deleting.");
            action.run();
        } finally {
            releaseClaim(guard);
            active.remove(conversationId, guard);
        }
    }

    /**
     * Admits a turn: the conversation's one answer (409 turn_in_progress), then the account's place for an answer
     * (429 rate_limited; {@code held} when the caller took it already), then the server's queue (503 server_busy).
     * The caller then claims the conversation across replicas (a user turn in the transaction that stores it) and
     * fans the turn's events out; a failure there gives everything back with {@link #unreserve}.
     */
    private Turn reserve(UUID conversationId, UUID account, TurnSink sink, AnswerSlot held) {
        if (stopping) throw serverStopping();
        Turn turn = new Turn(conversationId, sink);
        if (active.putIfAbsent(conversationId, turn) != null) throw ChatException.conflict("turn_in_progress", BUSY);
        AnswerSlot slot = null;
        try {
            slot = held != null ? held : holdAnswerSlot(account);
            admit();
        } catch (RuntimeException | Error e) {
            if (held == null && slot != null) slot.release();
            active.remove(conversationId, turn);
            throw e;
        }
        slot.takenOver = true;
        turn.slot = slot;
        return turn;
    }

    /**
     * Admitted and claimed: from now on its events go to every socket of the conversation (and it can be resumed).
     * Not before the claim: a resume meanwhile would hear of a turn that another replica's answer may still refuse.
     */
    private void fanOut(Turn turn) {
        turn.sink = events.fanOut(turn.conversationId, turn.origin);
    }

    /**
     * Claims the turn's conversation across replicas (409 turn_in_progress when another replica's answer holds it).
     * This replica's own answers were refused earlier by {@code active}, without a database round trip.
     */
    private void claim(Turn turn, String busyReason) {
        if (!claims.claim(turn.conversationId, turn.turnId)) throw ChatException.conflict("turn_in_progress", busyReason);
        claimed(turn);
    }

    /** The turn's claim is committed: renewed from now on, and given back when the turn ends. */
    private static void claimed(Turn turn) {
        turn.claimedAt = System.nanoTime();
        turn.claimed.set(true);
    }

    private static final String BUSY = "An answer is still being generated in this conversation; wait for it or cancel it first.";

    /** Gives the conversation's claim back (once); a claim that cannot be deleted now runs out with its lease. */
    private void releaseClaim(Turn turn) {
        if (!turn.claimed.compareAndSet(true, false)) return;
        try {
            claims.release(turn.conversationId, turn.turnId);
        } catch (RuntimeException e) {
            LOG.warnf("a conversation's claim was not released (it expires with its lease): %s", e.getMessage());
        }
    }

    /** Gives the account's place back (once, whichever way the answer ends first). */
    private static void releaseSlot(Turn turn) {
        AnswerSlot slot = turn.slot;
        if (slot != null) slot.release();
    }

    /** Runs a task on an answer worker, ahead of waiting turns (a test occupies the workers to hold turns queued). */
    void runOnWorker(Runnable task) {
        pool.execute(task);
    }

    /** Turns stored and in line for a worker, each told its place (tests). */
    int inLine() {
        synchronized (waiting) {
            return waiting.size();
        }
    }

    /** Turns admitted and not yet started (the queue gauge; tests). */
    int queued() {
        synchronized (waiting) {
            return admitted;
        }
    }

    /** Takes a place in the server's queue, or 503 server_busy when all are taken. */
    private void admit() {
        synchronized (waiting) {
            if (admitted >= maxQueue) throw serverBusy();
            admitted++;
        }
    }

    /** Gives a place in the server's queue back: its work started, or was refused before it was queued. */
    private void leaveQueue() {
        synchronized (waiting) {
            admitted--;
        }
    }

    /** Gives back an admission whose turn was refused before it was queued (bad input, a vanished conversation). */
    private void unreserve(Turn turn) {
        leaveQueue();
        forget(turn);
    }

    /** Everything a turn holds given back, its event log included: nothing of it is left to resume. */
    private void forget(Turn turn) {
        release(turn);
        events.ended(turn.conversationId, turn.sink);
    }

    private void enqueue(Turn turn, TurnStore.Accepted a, GenerationOptions options) {
        synchronized (waiting) {
            waiting.add(turn);
            int position = waiting.size() - Math.max(0, workers - pool.getActiveCount());
            if (position > 0) {
                turn.announcedPosition = position;
                turn.sink.send("queued", turn.id, Map.of("position", position));
            } else {
                turn.announcedPosition = Integer.MAX_VALUE; // an idle worker takes it; if it still waits, say where
            }
        }
        pool.execute(() -> {
            synchronized (waiting) {
                waiting.remove(turn); // the others' new places go out with the next announcePositions
                admitted--;
            }
            try {
                answer(turn, a, options);
            } finally {
                // normally given back before the final event (release); this covers an answer that threw
                forget(turn);
            }
        });
    }

    private void answer(Turn turn, TurnStore.Accepted a, GenerationOptions options) {
        double queueMs = (System.nanoTime() - turn.queuedAt) / 1e6;
        TurnStore.Started started;
        try {
            started = store.startAnswer(a.conversationId(), a.userMessageId(), a.imageId());
        } catch (RuntimeException e) {
            if (DatabaseOutage.isCause(e)) {
                LOG.warnf("answer not started, database unavailable: %s", e.getMessage());
                reportFailure(turn, DatabaseOutage.CODE, DatabaseOutage.REASON);
            } else {
                // nothing was stored (the transaction rolled back); the client still hears the end
                LOG.error("answer not started", e);
                reportFailure(turn, "internal_error", ANSWER_FAILED);
            }
            return;
        }
        recordPendingEndings(); // the database answers again: endings it missed can be stored now
        metrics.answerStarted();
        StringBuilder partial = new StringBuilder();
        try {
            turn.sink.send("started", turn.id, Map.of("messageId", started.messageId().toString()));
            generate(turn, a, options, started, partial, queueMs);
        } finally {
            // a failure while storing the failure itself must not leave the answer counted as running
            ended(turn, AnswerStatus.FAILED, null);
        }
    }

    private void generate(Turn turn, TurnStore.Accepted a, GenerationOptions options, TurnStore.Started started,
                          StringBuilder partial, double queueMs) {
        UUID messageId = started.messageId();
        try {
            if (turn.cancel.isCancelled()) {
                if (turn.stoppedByShutdown) {
                    endFailed(turn, new PendingEnding(messageId, a.replaces(), "", STOPPED_BY_SHUTDOWN),
                            "server_stopping", "The server stopped before the answer began; send it again.");
                    return;
                }
                // nothing was generated: no region is stored, so no region number is needed
                finish(turn, messageId, a.replaces(), AnswerStatus.CANCELLED, null, "", "cancelled before it started", 0, queueMs);
                return;
            }
            if (started.inputsError() != null) throw started.inputsError();
            TurnStore.AnswerInputs inputs = started.inputs();
            int first = inputs.firstRegion();
            // the features come from the engine's cache by the stored hash; the blob is read only on a miss
            UUID imageId = a.imageId();
            GenerationRequest req = GenerationRequest.about(
                    new GenerationRequest.StoredImage(inputs.imageSha256(), () -> store.imageBytes(imageId)),
                    inputs.prompt(), options, i -> "[" + (first + i) + "]", turn.cancel);
            GenerationResult r = engine.generate(req, new GenerationListener() {
                @Override public void onTextDelta(String delta) {
                    if (partial.isEmpty() && !delta.isEmpty()) metrics.firstToken(turn.queuedAt);
                    partial.append(delta);
                    turn.sink.send("text", turn.id, Map.of("delta", delta));
                }
                @Override public void onRegion(RegionEvent e) {
                    turn.sink.send("region", turn.id, Map.of("region", EventJson.region(e, first + e.index())));
                }
                @Override public void onMask(MaskEvent e) {
                    turn.sink.send("mask", turn.id, Map.of("number", first + e.regionIndex(), "mask", EventJson.mask(e.mask()),
                            "score", e.score()));
                }
                @Override public void onWordPoint(WordPointEvent p) {
                    turn.sink.send("point", turn.id, EventJson.point(p, p.regionIndex() < 0 ? null : first + p.regionIndex()));
                }
            });
            boolean cancelled = r.finishReason() == FinishReason.CANCELLED;
            if (cancelled && turn.stoppedByShutdown) {
                endFailed(turn, new PendingEnding(messageId, a.replaces(), partial.toString(), STOPPED_BY_SHUTDOWN),
                        "server_stopping", "The server stopped before the answer was complete; send it again.");
                return;
            }
            finish(turn, messageId, a.replaces(), cancelled ? AnswerStatus.CANCELLED : AnswerStatus.COMPLETE, r, null,
                    cancelled ? "cancelled" : null,
                    first, queueMs);
        } catch (InferenceException | ChatException e) {
            LOG.infof("answer failed: %s", e.getMessage());
            endFailed(turn, new PendingEnding(messageId, a.replaces(), partial.toString(), e.getMessage()),
                    e instanceof ChatException ae ? ae.code() : "generation_failed", e.getMessage());
        } catch (RuntimeException e) {
            boolean outage = DatabaseOutage.isCause(e);
            if (outage) LOG.warnf("answer interrupted, database unavailable: %s", e.getMessage());
            else LOG.error("answer failed", e);
            endFailed(turn, new PendingEnding(messageId, a.replaces(), partial.toString(),
                            outage ? INTERRUPTED_BY_OUTAGE : "internal error"),
                    outage ? DatabaseOutage.CODE : "internal_error",
                    outage ? DatabaseOutage.REASON : ANSWER_FAILED);
        }
    }

    /**
     * Stores a failed answer and tells the client. When the database is gone the ending is kept in memory and stored
     * when it answers again ({@link #recordPendingEndings}): the answer ends failed, never left "streaming".
     */
    private void endFailed(Turn turn, PendingEnding ending, String code, String reason) {
        try {
            store.finishAnswer(ending.messageId(), ending.replaces(), AnswerStatus.FAILED, null, ending.partial(),
                    ending.reason(), 0, null);
        } catch (RuntimeException e) {
            if (!DatabaseOutage.isCause(e)) {
                // the client still hears the end; the row stays "streaming" until a sweep marks it failed
                LOG.error("a failed answer could not be stored", e);
                reportFailure(turn, "internal_error", "The answer failed and could not be stored.");
                return;
            }
            pendingEndings.put(ending.messageId(), new PendingEnding(ending.messageId(), ending.replaces(), ending.partial(),
                    INTERRUPTED_BY_OUTAGE));
            code = DatabaseOutage.CODE;
            reason = DatabaseOutage.REASON;
        }
        reportFailure(turn, code, reason);
    }

    /** Frees the conversation and the account's place, counts the failure, then tells the client. */
    private void reportFailure(Turn turn, String code, String reason) {
        release(turn);
        ended(turn, AnswerStatus.FAILED, null);
        turn.sink.send("error", turn.id, Map.of("code", code, "reason", reason));
    }

    void databaseRestarted(@Observes EmbeddedPostgresSupervisor.DatabaseRestarted restarted) {
        // the first connections after a restart may still fail: try for a few seconds, not only once
        for (int i = 0; i < 20 && !pendingEndings.isEmpty(); i++) {
            recordPendingEndings();
            if (pendingEndings.isEmpty()) return;
            try {
                Thread.sleep(250);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** Stores the endings an outage kept from the database; those it still cannot store stay for the next try. */
    private void recordPendingEndings() {
        for (PendingEnding ending : List.copyOf(pendingEndings.values())) {
            try {
                store.failIfStreaming(ending.messageId(), ending.replaces(), ending.partial(), ending.reason());
                pendingEndings.remove(ending.messageId());
            } catch (RuntimeException e) {
                if (!DatabaseOutage.isCause(e)) {
                    LOG.error("could not store an interrupted answer's end", e);
                    pendingEndings.remove(ending.messageId());
                }
                return;
            }
        }
    }

    /**
     * Frees the conversation for its next turn. It must happen before the final event goes out: a client that sends
     * its next turn on `done` would otherwise race the release and get turn_in_progress.
     */
    private void release(Turn turn) {
        releaseSlot(turn);
        releaseClaim(turn);
        active.remove(turn.conversationId, turn);
    }

    private void finish(Turn turn, UUID messageId, UUID replaces, AnswerStatus status, GenerationResult r, String partial,
                        String reason, int first, double queueMs) {
        Map<String, Object> timings = r == null ? Map.of("queueMs", queueMs) : EventJson.timings(r.timings(), queueMs);
        MessageJson stored;
        // given back with the answer's end; not renewed meanwhile (a renewal would find it gone and call it lost)
        if (turn.claimed.compareAndSet(true, false)) {
            try {
                stored = store.finishAnswerAndRelease(turn.turnId, turn.conversationId, messageId, replaces, status, r,
                        partial, status == AnswerStatus.COMPLETE ? null : reason, first, timings);
            } catch (RuntimeException | Error e) {
                claimed(turn); // rolled back: still held (as of now, for the lease check), given back on its own
                throw e;
            }
        } else {
            stored = store.finishAnswer(messageId, replaces, status, r, partial,
                    status == AnswerStatus.COMPLETE ? null : reason, first, timings);
        }
        release(turn);
        ended(turn, status, r);
        if (status == AnswerStatus.COMPLETE) {
            turn.sink.send("done", turn.id, Map.of("message", stored, "timings", timings,
                    "usage", Map.of("promptTokens", r.promptTokens(), "completionTokens", r.completionTokens()),
                    "finishReason", r.finishReason() == FinishReason.LENGTH ? "length" : "stop"));
        } else {
            turn.sink.send("cancelled", turn.id, Map.of("message", stored));
        }
    }

    /** Counted before the final event goes out, so a client that reads the metrics on `done` finds its answer. */
    private void ended(Turn turn, AnswerStatus outcome, GenerationResult r) {
        if (turn.metered) return;
        turn.metered = true;
        metrics.answerEnded(outcome, turn.queuedAt, r == null ? 0 : r.completionTokens());
    }

    private static List<PixelBox> parseRegions(List<List<Double>> regions) {
        List<PixelBox> out = new ArrayList<>();
        if (regions == null) return out;
        if (regions.size() > MAX_REGIONS) {
            throw ChatException.badRequest("too_many_regions", "At most " + MAX_REGIONS + " regions per message.");
        }
        for (int i = 0; i < regions.size(); i++) {
            List<Double> b = regions.get(i);
            if (b == null || b.size() != 4 || b.stream().anyMatch(v -> v == null)) {
                throw ChatException.badRequest("invalid_region", "Region #" + (i + 1) + " must be [x1, y1, x2, y2] in image pixels.");
            }
            out.add(new PixelBox(b.get(0), b.get(1), b.get(2), b.get(3)));
        }
        return out;
    }

    private static GenerationOptions options(TurnRequest.Options o) {
        if (o == null) return GenerationOptions.greedy();
        double temperature = o.temperature() == null ? 0 : o.temperature();
        double topP = o.topP() == null ? 1 : o.topP();
        int topK = o.topK() == null ? 0 : o.topK();
        int maxTokens = o.maxTokens() == null ? 0 : o.maxTokens();
        if (!Double.isFinite(temperature) || temperature < 0 || temperature > 5) {
            throw ChatException.badRequest("invalid_options", "temperature must be between 0 and 5.");
        }
        if (!Double.isFinite(topP) || topP <= 0 || topP > 1) throw ChatException.badRequest("invalid_options", "topP must be in (0, 1].");
        if (topK < 0) throw ChatException.badRequest("invalid_options", "topK must be >= 0.");
        if (maxTokens < 0 || maxTokens > 256) throw ChatException.badRequest("invalid_options", "maxTokens must be between 0 and 256.");
        return new GenerationOptions(temperature, topP, topK, maxTokens, o.seed() == null ? 0 : o.seed(),
                o.masks() == null || o.masks(), o.points() == null || o.points());
    }
}

package org.groundchat.chat;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.quarkus.websockets.next.OpenConnections;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.groundchat.inference.ChatEngine;
import org.groundchat.persistence.AnswerStatus;

/**
 * The service's meters at {@code /q/metrics} (README, "Metrics"). They carry counts and durations only, never text,
 * ids or account names, so a scraper may read them without signing in.
 */
@ApplicationScoped
public class ChatMetrics {
    /** How an answer can end: its {@code outcome} tag is the status it is stored with. */
    private static final List<AnswerStatus> ENDINGS = List.of(AnswerStatus.COMPLETE, AnswerStatus.CANCELLED,
            AnswerStatus.FAILED);

    private final MeterRegistry registry;
    private final Counter started;
    private final Map<AnswerStatus, Counter> ended = new EnumMap<>(AnswerStatus.class);
    private final Map<AnswerStatus, Timer> latency = new EnumMap<>(AnswerStatus.class);
    private final Counter tokens;
    private final Timer firstToken;
    private final AtomicInteger running = new AtomicInteger();

    @Inject
    public ChatMetrics(MeterRegistry registry, ChatEngine engine, OpenConnections sockets) {
        this.registry = registry;
        started = Counter.builder("groundchat.answers.started").description("Answers that left the queue and began")
                .register(registry);
        tokens = Counter.builder("groundchat.tokens.generated")
                .description("Tokens the model generated, cancelled answers included (rate() gives tokens/s)")
                .register(registry);
        // every outcome exists from the start at 0, so rate() and increase() see an answer's first failure too
        for (AnswerStatus o : ENDINGS) {
            ended.put(o, Counter.builder("groundchat.answers.ended").tag("outcome", o.stored())
                    .description("Answers that ended, by outcome").register(registry));
            latency.put(o, latencyTimer("groundchat.answer.latency",
                    "From admitting a turn to its answer's last event, queue wait included").tag("outcome", o.stored())
                    .register(registry));
        }
        firstToken = latencyTimer("groundchat.answer.time.to.first.token",
                "From admitting a turn to its answer's first streamed text, queue wait included").register(registry);
        Gauge.builder("groundchat.answers.running", running, AtomicInteger::get)
                .description("Answers being generated now").register(registry);
        // the engine counts on its own (the command line uses it without Micrometer); the registry reads its totals
        FunctionCounter.builder("groundchat.image.encodes", engine, ChatEngine::imageEncodes)
                .description("Images run through the vision encoder (feature-cache misses)").register(registry);
        FunctionCounter.builder("groundchat.feature.cache.hits", engine, ChatEngine::featureCacheHits)
                .description("Image lookups served from the feature cache without encoding").register(registry);
        Gauge.builder("groundchat.websocket.connections", sockets, s -> s.listAll().size())
                .description("Open WebSocket connections").register(registry);
    }

    /**
     * Percentile histograms (rather than client-side percentiles) so that replicas can be aggregated in PromQL; the
     * bucket range spans a cached short answer to a long wait in a full queue.
     */
    private static Timer.Builder latencyTimer(String name, String description) {
        return Timer.builder(name).description(description).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(5)).maximumExpectedValue(Duration.ofMinutes(5));
    }

    /** The queue's own count is the truth; the gauge reads it at scrape time instead of keeping a copy in step. */
    void queueDepth(Supplier<Number> queued) {
        Gauge.builder("groundchat.answers.queued", queued).description("Turns admitted and waiting for a worker")
                .register(registry);
    }

    void answerStarted() {
        started.increment();
        running.incrementAndGet();
    }

    void firstToken(long admittedAtNanos) {
        firstToken.record(System.nanoTime() - admittedAtNanos, TimeUnit.NANOSECONDS);
    }

    /** Called exactly once for each {@link #answerStarted()}. */
    void answerEnded(AnswerStatus outcome, long admittedAtNanos, int generatedTokens) {
        running.decrementAndGet();
        ended.get(outcome).increment();
        latency.get(outcome).record(System.nanoTime() - admittedAtNanos, TimeUnit.NANOSECONDS);
        if (generatedTokens > 0) tokens.increment(generatedTokens);
    }
}

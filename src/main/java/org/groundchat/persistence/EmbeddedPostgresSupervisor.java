package org.groundchat.persistence;

import io.agroal.api.AgroalDataSource;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Event;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Keeps the embedded PostgreSQL server running: if its process dies (killed, out of memory), it is started again on
 * the same data directory and port, the connection pool drops its dead connections, and {@link DatabaseRestarted}
 * tells the rest of the application. A server that cannot be brought back for {@code groundchat.db.supervisor.give-up}
 * makes liveness DOWN ({@link EmbeddedDatabaseLiveness}), so an orchestrator restarts the whole application.
 * With an external server (quarkus.datasource.jdbc.url set) there is nothing to supervise: the pool reconnects when
 * the server returns.
 */
@ApplicationScoped
public class EmbeddedPostgresSupervisor {
    private static final Logger LOG = Logger.getLogger(EmbeddedPostgresSupervisor.class);

    /** Fired after the server was restarted and the pool flushed. */
    public record DatabaseRestarted(Duration downtime) {}

    @ConfigProperty(name = EmbeddedPostgresConfigSourceFactory.DATA_DIR_PROPERTY)
    Optional<String> dataDir;
    @ConfigProperty(name = "groundchat.db.supervisor.interval", defaultValue = "1s")
    Duration interval;
    @ConfigProperty(name = "groundchat.db.supervisor.give-up", defaultValue = "60s")
    Duration giveUp;
    @Inject
    AgroalDataSource pool;
    @Inject
    Event<DatabaseRestarted> restarted;

    private ScheduledExecutorService ticker;
    private volatile long downSinceNanos; // 0 while the server runs
    private volatile String lastFailure;

    void start(@Observes StartupEvent e) {
        if (dataDir.isEmpty()) return;
        ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "groundchat-db-supervisor");
            t.setDaemon(true);
            return t;
        });
        long ms = interval.toMillis();
        ticker.scheduleWithFixedDelay(this::check, ms, ms, TimeUnit.MILLISECONDS);
    }

    void stop(@Observes ShutdownEvent e) throws InterruptedException {
        if (ticker == null) return;
        // before zonky's shutdown hook stops the server: a stop must not look like a crash to restart from
        ticker.shutdownNow();
        ticker.awaitTermination(45, TimeUnit.SECONDS);
    }

    /** Whether the embedded server has been down, despite restarts, for longer than the give-up time. */
    public boolean hasGivenUp() {
        long since = downSinceNanos;
        return since != 0 && System.nanoTime() - since > giveUp.toNanos();
    }

    /** The last restart failure while the server is down (for the log and the health check), else empty. */
    public Optional<String> lastFailure() {
        return downSinceNanos == 0 ? Optional.empty() : Optional.ofNullable(lastFailure);
    }

    private void check() {
        Path dir = Path.of(dataDir.get());
        if (PostmasterProcess.isRunning(dir)) return;
        long now = System.nanoTime();
        if (downSinceNanos == 0) {
            downSinceNanos = now;
            LOG.warnf("The embedded PostgreSQL server in %s is not running; restarting it", dir);
        }
        try {
            PostmasterProcess.restart(dir);
        } catch (Exception ex) {
            if (ex instanceof InterruptedException) Thread.currentThread().interrupt();
            String failure = ex.getMessage();
            if (!failure.equals(lastFailure)) LOG.warnf("Could not restart the embedded PostgreSQL server: %s", failure);
            lastFailure = failure;
            return;
        }
        Duration downtime = Duration.ofNanos(System.nanoTime() - downSinceNanos);
        // connections to the dead server would each fail once before the pool noticed
        pool.flush(AgroalDataSource.FlushMode.ALL);
        downSinceNanos = 0;
        lastFailure = null;
        LOG.infof("The embedded PostgreSQL server is running again (down for %d ms)", downtime.toMillis());
        restarted.fire(new DatabaseRestarted(downtime));
    }
}

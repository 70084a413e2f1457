package org.groundchat.persistence;

import io.agroal.api.AgroalDataSource;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import jakarta.enterprise.event.Observes;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

/**
 * Messages between the replicas of one database over PostgreSQL LISTEN/NOTIFY: {@link #publish} queues a message
 * (never waits on the database), one thread sends the queue in batches, another listens on its own connection and
 * hands every message, this replica's own included, to the receiver. A message over NOTIFY's 8000-byte payload limit
 * goes through table {@code notify_payloads} and the notification carries its id. Lost connections are reopened;
 * messages sent while a replica was not listening are not replayed (the database keeps the state, events are live).
 */
@ApplicationScoped
public class NotifyChannel {
    private static final Logger LOG = Logger.getLogger(NotifyChannel.class);
    static final String CHANNEL = "groundchat_events";
    /** Bytes sent inline; NOTIFY refuses payloads of 8000 bytes or more. */
    static final int INLINE_LIMIT = 7900;
    private static final int BATCH = 256;
    private static final int QUEUE = 20_000;
    private static final long RETRY_MS = 1000;
    private static final long POLL_MS = 500;
    private static final long PING_NANOS = 5_000_000_000L;

    @Inject
    AgroalDataSource db;
    @ConfigProperty(name = "quarkus.datasource.jdbc.url")
    String url;
    @ConfigProperty(name = "quarkus.datasource.username")
    Optional<String> user;
    @ConfigProperty(name = "quarkus.datasource.password")
    Optional<String> password;

    private final BlockingQueue<String> outgoing = new LinkedBlockingQueue<>(QUEUE);
    private volatile Consumer<String> receiver;
    private volatile boolean running;
    private Thread sender, listener;
    private long dropped;

    /** Starts sending and listening; messages go to {@code receiver} on the listening thread. */
    public synchronized void open(Consumer<String> receiver) {
        if (running) return;
        this.receiver = receiver;
        running = true;
        sender = daemon("groundchat-notify-send", this::sendLoop);
        listener = daemon("groundchat-notify-listen", this::listenLoop);
    }

    /** Queues a message for every replica; dropped (and counted in the log) when the database has fallen far behind. */
    public void publish(String message) {
        if (!running) return;
        if (!outgoing.offer(message)) {
            synchronized (this) {
                if (dropped++ % 1000 == 0) LOG.warnf("replica messages dropped: %d (the database is not keeping up)", dropped);
            }
        }
    }

    void close(@Observes ShutdownEvent e) {
        running = false;
        if (sender != null) sender.interrupt();
        if (listener != null) listener.interrupt();
    }

    private void sendLoop() {
        long lastCleanup = 0;
        List<String> batch = new ArrayList<>();
        while (running) {
            try {
                String first = outgoing.poll(POLL_MS, TimeUnit.MILLISECONDS);
                if (first != null) {
                    batch.add(first);
                    outgoing.drainTo(batch, BATCH - 1);
                    send(batch);
                }
                if (System.currentTimeMillis() - lastCleanup > 30_000) {
                    lastCleanup = System.currentTimeMillis();
                    try (Connection c = db.getConnection(); Statement s = c.createStatement()) {
                        s.executeUpdate("delete from notify_payloads where created_at < now() - interval '1 minute'");
                    }
                }
            } catch (InterruptedException e) {
                return;
            } catch (SQLException | RuntimeException e) {
                LOG.warnf("replica messages not sent (%d): %s", batch.size(), e.getMessage());
                sleep(RETRY_MS);
            } finally {
                batch.clear();
            }
        }
    }

    /** One transaction: the notifications go out together, in order, when it commits. */
    private void send(List<String> batch) throws SQLException {
        try (Connection c = db.getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement notify = c.prepareStatement("select pg_notify('" + CHANNEL + "', ?)");
                 PreparedStatement store = c.prepareStatement("insert into notify_payloads (body) values (?) returning id")) {
                for (String m : batch) {
                    String payload = m;
                    if (m.getBytes(StandardCharsets.UTF_8).length > INLINE_LIMIT) {
                        store.setString(1, m);
                        try (ResultSet r = store.executeQuery()) {
                            r.next();
                            payload = "@" + r.getLong(1);
                        }
                    }
                    notify.setString(1, payload);
                    notify.executeQuery().close();
                }
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        }
    }

    private void listenLoop() {
        while (running) {
            try (Connection c = DriverManager.getConnection(url, user.orElse(null), password.orElse(null))) {
                try (Statement s = c.createStatement()) {
                    s.execute("LISTEN " + CHANNEL);
                }
                PGConnection pg = c.unwrap(PGConnection.class);
                long lastPing = System.nanoTime();
                try (PreparedStatement fetch = c.prepareStatement("select body from notify_payloads where id = ?");
                     PreparedStatement ping = c.prepareStatement("select 1")) {
                    while (running) {
                        PGNotification[] ns = pg.getNotifications((int) POLL_MS);
                        if (ns != null) {
                            for (PGNotification n : ns) deliver(n.getParameter(), fetch);
                        }
                        // waiting for notifications sends nothing: a connection that died quietly (a failover, a
                        // dropped NAT entry) is noticed only by using it
                        if (System.nanoTime() - lastPing > PING_NANOS) {
                            ping.executeQuery().close();
                            lastPing = System.nanoTime();
                        }
                    }
                }
            } catch (SQLException e) {
                if (running) {
                    LOG.debugf("replica messages: listening stopped, reconnecting: %s", e.getMessage());
                    sleep(RETRY_MS);
                }
            }
        }
    }

    private void deliver(String payload, PreparedStatement fetch) throws SQLException {
        String message = payload;
        if (payload.startsWith("@")) {
            fetch.setLong(1, Long.parseLong(payload.substring(1)));
            try (ResultSet r = fetch.executeQuery()) {
                if (!r.next()) return; // cleaned up already: this replica was too far behind to matter
                message = r.getString(1);
            }
        }
        try {
            receiver.accept(message);
        } catch (RuntimeException e) {
            LOG.warnf("a replica message was not handled: %s", e.getMessage());
        }
    }

    private static Thread daemon(String name, Runnable body) {
        Thread t = new Thread(body, name);
        t.setDaemon(true);
        t.start();
        return t;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}

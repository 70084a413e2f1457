package org.groundchat.chat;

import io.agroal.api.AgroalDataSource;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.groundchat.persistence.EmbeddedPostgresConfigSourceFactory;

/**
 * The database side of "one answer at a time per conversation" across replicas (table {@code answer_claims}): a
 * turn claims its conversation before anything of it is stored, the replica renews the claims of its running answers
 * ({@link #renew}), and an expired claim (its replica died or lost the database) is taken over by whoever needs the
 * conversation next, or cleared by {@link #sweep}, which marks the dead answer failed. Every time comparison uses the
 * database's clock, so replicas' clocks need not agree.
 */
@ApplicationScoped
public class AnswerClaims {
    static final String INTERRUPTED = "interrupted: the server generating this answer stopped or lost the database";

    @Inject
    AgroalDataSource db;

    /** How long a claim lives without renewal: how soon another replica sees that this one died. */
    @ConfigProperty(name = "groundchat.replicas.lease", defaultValue = "10s")
    Duration lease;
    @ConfigProperty(name = "groundchat.replicas.name")
    Optional<String> configuredName;
    @ConfigProperty(name = "quarkus.http.port", defaultValue = "8080")
    int httpPort;
    /** Set when this process runs the embedded PostgreSQL (no external server configured). */
    @ConfigProperty(name = EmbeddedPostgresConfigSourceFactory.DATA_DIR_PROPERTY)
    Optional<String> embeddedDatabase;

    private volatile String name;

    /**
     * This replica's name in the claims: {@code groundchat.replicas.name}, else host name and HTTP port. A restarted
     * replica has the same name, so it can clear what its previous run left at once ({@link #releaseOwnLeftovers}).
     */
    public String replica() {
        String n = name;
        if (n == null) {
            n = configuredName.filter(s -> !s.isBlank()).orElseGet(() -> host() + ":" + httpPort);
            name = n;
        }
        return n;
    }

    Duration lease() {
        return lease;
    }

    /**
     * Claims the conversation for a turn; false when another turn (on any replica) holds a live claim. A claim whose
     * lease has run out is taken over, and the answer it left unfinished is marked failed in the same transaction.
     */
    boolean claim(UUID conversationId, UUID turnId) {
        return inTransaction("could not claim the conversation", c -> claimOn(c, conversationId, turnId));
    }

    /**
     * {@link #claim} inside the caller's transaction (a JTA transaction, whose connection this joins): the claim
     * commits with what the caller stores, or neither does. One commit per turn instead of two.
     */
    boolean claimInTransaction(UUID conversationId, UUID turnId) {
        try (Connection c = db.getConnection()) {
            return claimOn(c, conversationId, turnId);
        } catch (SQLException e) {
            throw new IllegalStateException("could not claim the conversation: " + e.getMessage(), e);
        }
    }

    private boolean claimOn(Connection c, UUID conversationId, UUID turnId) throws SQLException {
        boolean won;
        try (PreparedStatement s = c.prepareStatement("insert into answer_claims (conversation_id, turn_id, replica,"
                + " lease_until) values (?, ?, ?, now() + ? * interval '1 millisecond')"
                + " on conflict (conversation_id) do update set turn_id = excluded.turn_id, replica = excluded.replica,"
                + " claimed_at = now(), lease_until = excluded.lease_until"
                + " where answer_claims.lease_until < now() returning turn_id")) {
            s.setObject(1, conversationId);
            s.setObject(2, turnId);
            s.setString(3, replica());
            s.setLong(4, lease.toMillis());
            try (ResultSet r = s.executeQuery()) {
                won = r.next();
            }
        }
        // whatever is still "streaming" here was left by a claim that expired: nobody generates it any more
        // (the claim just written is live, so this ends the conversation's answers without asking for one)
        if (won) failStranded(c, conversationId, "");
        return won;
    }

    /** Whether another replica holds a live claim on the conversation (its answer runs there). */
    boolean heldElsewhere(UUID conversationId) {
        try (Connection c = db.getConnection();
             PreparedStatement s = c.prepareStatement("select 1 from answer_claims where conversation_id = ?"
                     + " and lease_until >= now() and replica <> ?")) {
            s.setObject(1, conversationId);
            s.setString(2, replica());
            try (ResultSet r = s.executeQuery()) {
                return r.next();
            }
        } catch (SQLException e) {
            throw new IllegalStateException("could not read the conversation's claim: " + e.getMessage(), e);
        }
    }

    /** Gives the claim back; only the turn that holds it can. Inside a transaction, it commits with it. */
    void release(UUID conversationId, UUID turnId) {
        update("delete from answer_claims where conversation_id = ? and turn_id = ?", conversationId, turnId);
    }

    /**
     * Renews the claims of these turns (the answers running here); returns the turns (by conversation) whose claims
     * are still held. Only running turns: a claim whose release failed (the database was briefly away) is not kept
     * alive, it runs out and is swept.
     */
    Map<UUID, UUID> renew(Collection<UUID> turns) {
        Map<UUID, UUID> held = new HashMap<>();
        if (turns.isEmpty()) return held;
        try (Connection c = db.getConnection();
             PreparedStatement s = c.prepareStatement("update answer_claims set lease_until = now() + ? * interval"
                     + " '1 millisecond' where replica = ? and turn_id = any(?) and lease_until >= now()"
                     + " returning conversation_id, turn_id")) {
            s.setLong(1, lease.toMillis());
            s.setString(2, replica());
            s.setArray(3, c.createArrayOf("uuid", turns.toArray()));
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) held.put(r.getObject(1, UUID.class), r.getObject(2, UUID.class));
            }
        } catch (SQLException e) {
            throw new IllegalStateException("could not renew the answer claims: " + e.getMessage(), e);
        }
        return held;
    }

    /**
     * At startup: the claims of this replica's previous run are dead (it was killed); clear them and what they left.
     * On the embedded database every claim is: that database belongs to this process alone, so there is no other
     * replica (a restart may also come back on another port, that is, under another default name).
     */
    int releaseOwnLeftovers() {
        if (embeddedDatabase.isPresent()) update("delete from answer_claims");
        else update("delete from answer_claims where replica = ?", replica());
        return sweep();
    }

    /**
     * Clears expired claims and marks every answer left "streaming" without a live claim failed; returns how many
     * answers it ended. Any replica may run it at any time: a live answer always holds its conversation's claim.
     */
    int sweep() {
        return inTransaction("could not sweep interrupted answers", c -> {
            try (PreparedStatement s = c.prepareStatement("delete from answer_claims where lease_until < now()")) {
                s.executeUpdate();
            }
            return failStranded(c, null, UNCLAIMED);
        });
    }

    /** Work on one connection inside one transaction. */
    private interface Work<T> {
        T run(Connection c) throws SQLException;
    }

    /** Runs {@code work} in one transaction: committed when it returns, rolled back when it throws. */
    private <T> T inTransaction(String failure, Work<T> work) {
        try (Connection c = db.getConnection()) {
            c.setAutoCommit(false);
            try {
                T result = work.run(c);
                c.commit();
                return result;
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        } catch (SQLException e) {
            throw new IllegalStateException(failure + ": " + e.getMessage(), e);
        }
    }

    /** A live claim's answers are generated by its replica: they are not stranded. */
    private static final String UNCLAIMED = " and not exists (select 1 from answer_claims a"
            + " where a.conversation_id = m.conversation_id and a.lease_until >= now())";

    /**
     * Ends the "streaming" answers of one conversation (or of all when null) that match {@code condition}. A
     * regenerate's unfinished answer follows the answer it was to replace: it is dropped and the old one stays; any
     * other is marked failed.
     */
    private static int failStranded(Connection c, UUID conversationId, String condition) throws SQLException {
        String scope = conversationId == null ? "" : " and m.conversation_id = ?";
        try (PreparedStatement s = c.prepareStatement("delete from messages m where m.status = 'streaming'"
                + " and m.role = 'assistant'" + scope + condition + " and exists (select 1 from messages p"
                + " where p.conversation_id = m.conversation_id and p.role = 'assistant' and p.seq = (select max(q.seq)"
                + " from messages q where q.conversation_id = m.conversation_id and q.seq < m.seq))")) {
            if (conversationId != null) s.setObject(1, conversationId);
            s.executeUpdate();
        }
        try (PreparedStatement s = c.prepareStatement("update messages m set status = 'failed', error_reason = ?"
                + " where m.status = 'streaming'" + scope + condition)) {
            s.setString(1, INTERRUPTED);
            if (conversationId != null) s.setObject(2, conversationId);
            return s.executeUpdate();
        }
    }

    private void update(String sql, Object... args) {
        try (Connection c = db.getConnection(); PreparedStatement s = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) s.setObject(i + 1, args[i]);
            s.executeUpdate();
        } catch (SQLException e) {
            throw new IllegalStateException("answer claims: " + e.getMessage(), e);
        }
    }

    private static String host() {
        String env = System.getenv("HOSTNAME"); // a Kubernetes pod's name
        if (env != null && !env.isBlank()) return env;
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "localhost";
        }
    }
}

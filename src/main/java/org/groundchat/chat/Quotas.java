package org.groundchat.chat;

import jakarta.enterprise.context.ApplicationScoped;
import java.time.Clock;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * Per-account limits on what costs the server: conversations created and images uploaded per minute (token buckets
 * that refill evenly over the minute), bytes of images stored, and open sockets. Over a limit the request gets 429
 * {@code rate_limited} with the seconds after which it would pass, and nothing is stored. In memory, per replica.
 */
@ApplicationScoped
public class Quotas {
    public enum Rate { CONVERSATIONS, UPLOADS }

    @ConfigProperty(name = "groundchat.limits.conversations-per-minute", defaultValue = "60")
    int conversationsPerMinute;
    @ConfigProperty(name = "groundchat.limits.uploads-per-minute", defaultValue = "30")
    int uploadsPerMinute;
    @ConfigProperty(name = "groundchat.limits.stored-bytes", defaultValue = "2147483648")
    long storedBytes;
    @ConfigProperty(name = "groundchat.limits.sockets", defaultValue = "32")
    int sockets;

    Clock clock = Clock.systemUTC();

    /** Tokens left and when they were last counted; a full bucket holds perMinute tokens. */
    private record Bucket(double tokens, long atMillis) {}

    private final Map<String, Bucket> buckets = new ConcurrentHashMap<>();
    private final Map<UUID, Integer> openSockets = new ConcurrentHashMap<>();

    /** Takes one token for this account and kind, or throws 429 with the wait until the next token. */
    public void take(UUID account, Rate rate) {
        int perMinute = rate == Rate.CONVERSATIONS ? conversationsPerMinute : uploadsPerMinute;
        double perMilli = perMinute / 60_000.0;
        long now = clock.millis();
        double[] waitMillis = {0};
        buckets.compute(account + "/" + rate, (k, b) -> {
            double tokens = b == null ? perMinute : Math.min(perMinute, b.tokens() + (now - b.atMillis()) * perMilli);
            if (tokens >= 1) return new Bucket(tokens - 1, now);
            waitMillis[0] = (1 - tokens) / perMilli;
            return new Bucket(tokens, now);
        });
        if (waitMillis[0] > 0) {
            String what = rate == Rate.CONVERSATIONS ? "new conversations" : "uploads";
            throw ChatException.rateLimited("Too many " + what + ": at most " + perMinute + " a minute.",
                    (int) Math.ceil(waitMillis[0] / 1000.0));
        }
    }

    /** Refuses an upload that would take the account's stored images over the limit. */
    public void checkStorage(long storedNow, long adding) {
        if (storedNow + adding > storedBytes) {
            throw new ChatException(ChatException.Kind.RATE_LIMITED, "quota_exceeded", "Your images would take " + (storedNow + adding)
                    + " bytes; the limit is " + storedBytes + " bytes. Delete conversations or images first.");
        }
    }

    /** Counts an opened socket of the account, or throws 429 when it has the most it may hold open. */
    public void openSocket(UUID account) {
        boolean[] refused = {false};
        openSockets.compute(account, (k, n) -> {
            int open = n == null ? 0 : n;
            if (open >= sockets) {
                refused[0] = true;
                return n;
            }
            return open + 1;
        });
        if (refused[0]) {
            throw ChatException.rateLimited("Too many open connections: at most " + sockets + " per account.", 5);
        }
    }

    public void closeSocket(UUID account) {
        openSockets.computeIfPresent(account, (k, n) -> n <= 1 ? null : n - 1);
    }
}

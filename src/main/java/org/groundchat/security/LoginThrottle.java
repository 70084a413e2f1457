package org.groundchat.security;

import jakarta.enterprise.context.ApplicationScoped;
import java.time.Clock;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * Slows password guessing: after {@code max-failures} wrong passwords for one username (or four times as many from
 * one address, across usernames), logins for it are refused for {@code lockout-seconds} (even with the right
 * password), then allowed again. In memory: a restart or another replica starts afresh, which still bounds a guesser
 * to a few tries per lockout window per replica.
 */
@ApplicationScoped
public class LoginThrottle {
    @ConfigProperty(name = "groundchat.auth.login.max-failures", defaultValue = "5")
    int maxFailures;
    @ConfigProperty(name = "groundchat.auth.login.lockout-seconds", defaultValue = "60")
    int lockoutSeconds;

    private record Failures(int count, long lockedUntilMillis) {}

    private final Map<String, Failures> failures = new ConcurrentHashMap<>();
    Clock clock = Clock.systemUTC();

    boolean allows(String username, String address) {
        return open(userKey(username)) && open(addressKey(address));
    }

    void failed(String username, String address) {
        count(userKey(username), maxFailures);
        count(addressKey(address), 4 * maxFailures);
    }

    void succeeded(String username) {
        failures.remove(userKey(username));
    }

    private boolean open(String key) {
        Failures f = failures.get(key);
        return f == null || f.lockedUntilMillis() <= clock.millis();
    }

    private void count(String key, int limit) {
        failures.compute(key, (k, f) -> {
            boolean expired = f != null && f.lockedUntilMillis() > 0 && f.lockedUntilMillis() <= clock.millis();
            int n = f == null || expired ? 1 : f.count() + 1;
            return new Failures(n, n >= limit ? clock.millis() + lockoutSeconds * 1000L : 0);
        });
    }

    private static String userKey(String username) {
        return "user:" + (username == null ? "" : username.toLowerCase(java.util.Locale.ROOT));
    }

    private static String addressKey(String address) {
        return "address:" + (address == null ? "" : address);
    }
}

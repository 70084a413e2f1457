package org.groundchat.security;

import io.quarkus.vertx.http.runtime.security.PersistentLoginManager;
import io.vertx.ext.web.RoutingContext;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.time.Duration;
import java.util.Locale;

/**
 * Starts a browser session for an account that signed in some other way than the login form (OpenID Connect): the
 * same encrypted cookie, key and settings as Quarkus' form authentication, so from then on the session is the form
 * login's (idle expiry, sign-out, {@link SessionIdentityProvider}) and nothing else needs to know how it began.
 */
@ApplicationScoped
public class SessionCookies {
    @ConfigProperty(name = "quarkus.http.auth.session.encryption-key")
    String encryptionKey;
    @ConfigProperty(name = "quarkus.http.auth.form.cookie-name", defaultValue = "quarkus-credential")
    String cookieName;
    @ConfigProperty(name = "quarkus.http.auth.form.timeout", defaultValue = "PT30M")
    Duration timeout;
    @ConfigProperty(name = "quarkus.http.auth.form.new-cookie-interval", defaultValue = "PT1M")
    Duration newCookieInterval;
    @ConfigProperty(name = "quarkus.http.auth.form.http-only-cookie", defaultValue = "true")
    boolean httpOnly;
    @ConfigProperty(name = "quarkus.http.auth.form.cookie-same-site", defaultValue = "strict")
    String sameSite;

    private PersistentLoginManager manager;

    @PostConstruct
    void init() {
        manager = new PersistentLoginManager(encryptionKey, cookieName, timeout.toMillis(), newCookieInterval.toMillis(),
                httpOnly, sameSite.toUpperCase(Locale.ROOT), "/", -1, null);
    }

    /** Adds the session cookie for {@code username} to the response; Secure when the browser came over HTTPS. */
    public void signIn(String username, RoutingContext context) {
        manager.save(username, context, cookieName, null, context.request().isSSL());
    }
}

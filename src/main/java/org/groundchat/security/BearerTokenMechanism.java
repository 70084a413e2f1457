package org.groundchat.security;

import io.quarkus.security.identity.IdentityProviderManager;
import io.quarkus.security.identity.SecurityIdentity;
import io.quarkus.security.identity.request.AuthenticationRequest;
import io.quarkus.vertx.http.runtime.security.ChallengeData;
import io.quarkus.vertx.http.runtime.security.HttpAuthenticationMechanism;
import io.smallrye.mutiny.Uni;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.Set;

/**
 * {@code Authorization: Bearer <token>} for programs (REST and the WebSocket upgrade). A request without the header is
 * left to the browser's session cookie (form login); one with a bad token fails instead of falling back.
 * <p>
 * It also answers every 401 of the app: Quarkus asks the mechanisms for a challenge in priority order and takes the
 * first, and the form login's would be an empty 401. This one comes first and sends
 * {@code {"error": "unauthorized", "reason": ...}} (OpenAI's error shape under {@code /v1}) with
 * {@code WWW-Authenticate: Bearer}, whether the request had no credentials, a bad token or an expired session.
 */
@ApplicationScoped
public class BearerTokenMechanism implements HttpAuthenticationMechanism {
    private static final String PREFIX = "bearer ";

    @Override
    public Uni<SecurityIdentity> authenticate(RoutingContext context, IdentityProviderManager identityProviderManager) {
        String header = context.request().getHeader("Authorization");
        if (header == null || !header.regionMatches(true, 0, PREFIX, 0, PREFIX.length())) return Uni.createFrom().nullItem();
        String token = header.substring(PREFIX.length()).strip();
        return identityProviderManager.authenticate(new ApiTokenRequest(token));
    }

    @Override
    public Uni<ChallengeData> getChallenge(RoutingContext context) {
        return Uni.createFrom().item(new ChallengeData(401, "WWW-Authenticate", "Bearer"));
    }

    /** The 401 with a JSON body that says how to get in (the default challenge ends the response empty). */
    @Override
    public Uni<Boolean> sendChallenge(RoutingContext context) {
        if (!context.response().ended()) {
            context.response().putHeader("WWW-Authenticate", "Bearer");
            SecurityErrors.send(context, 401, SecurityErrors.UNAUTHORIZED, SecurityErrors.UNAUTHORIZED_REASON);
        }
        return Uni.createFrom().item(true);
    }

    /** Before the form login (1000) and OpenID Connect (1001): their challenges are never the one sent. */
    @Override
    public int getPriority() {
        return DEFAULT_PRIORITY + 2;
    }

    @Override
    public Set<Class<? extends AuthenticationRequest>> getCredentialTypes() {
        return Set.of(ApiTokenRequest.class);
    }
}

package org.groundchat.security;

import io.quarkus.oidc.IdToken;
import io.quarkus.oidc.OidcSession;
import io.vertx.ext.web.RoutingContext;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.eclipse.microprofile.jwt.JsonWebToken;
import org.groundchat.chat.ChatException;

import java.net.URI;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Sign-in through an OpenID Connect provider (README, "Users and security"). {@code /auth/oidc} is guarded by
 * quarkus-oidc's authorization code flow alone (application.properties): the browser goes to the provider and comes
 * back here with an ID token. The provider's subject finds (or at the first visit makes) the local account, which
 * then gets the app's usual session cookie; the provider's own session is not kept.
 */
@Path("/auth")
public class OidcSignInResource {
    @Inject
    @IdToken
    JsonWebToken idToken;
    @Inject
    OidcSession oidcSession;
    @Inject
    Accounts accounts;
    @Inject
    SessionCookies sessions;
    @ConfigProperty(name = "quarkus.oidc.tenant-enabled", defaultValue = "true")
    boolean oidcEnabled;
    @ConfigProperty(name = "groundchat.auth.oidc.label", defaultValue = "single sign-on")
    String oidcLabel;

    @GET
    @Path("oidc")
    public Response signIn(@Context RoutingContext context) {
        String subject = idToken.getIssuer() + "|" + idToken.getSubject();
        String name = Stream.of(idToken.<String>getClaim("preferred_username"), idToken.<String>getClaim("email"),
                idToken.getSubject()).filter(v -> v != null && !v.isBlank()).findFirst().orElse(null);
        Caller caller = accounts.signInWithOidc(subject, name)
                .orElseThrow(() -> new ChatException(ChatException.Kind.FORBIDDEN, "account_disabled", "This account is disabled."));
        sessions.signIn(caller.username(), context);
        oidcSession.logout().await().indefinitely();
        return Response.seeOther(URI.create("/")).build();
    }

    /** What the login page offers besides the password form; open to everyone (it is shown before sign-in). */
    @GET
    @Path("providers")
    @Produces(MediaType.APPLICATION_JSON)
    public Map<String, Object> providers() {
        return oidcEnabled ? Map.of("oidc", true, "oidcLabel", oidcLabel) : Map.of("oidc", false);
    }
}

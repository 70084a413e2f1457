package org.groundchat.security;

import io.quarkus.security.AuthenticationFailedException;
import io.quarkus.security.identity.AuthenticationRequestContext;
import io.quarkus.security.identity.IdentityProvider;
import io.quarkus.security.identity.SecurityIdentity;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

/** Checks an API token (Authorization: Bearer) against the stored hashes; a revoked token fails at once. */
@ApplicationScoped
public class TokenIdentityProvider implements IdentityProvider<ApiTokenRequest> {
    @Inject
    Accounts accounts;

    @Override
    public Class<ApiTokenRequest> getRequestType() {
        return ApiTokenRequest.class;
    }

    @Override
    public Uni<SecurityIdentity> authenticate(ApiTokenRequest request, AuthenticationRequestContext context) {
        String token = request.token();
        return context.runBlocking(() -> accounts.signInWithToken(token).map(Caller::identity)
                .orElseThrow(() -> new AuthenticationFailedException("unknown or revoked token")));
    }
}

package org.groundchat.security;

import io.quarkus.security.identity.request.BaseAuthenticationRequest;

/**
 * An API token sent as {@code Authorization: Bearer}. Its own request type, not Quarkus' TokenAuthenticationRequest:
 * quarkus-oidc sends the provider's ID token as that type, and it must reach OIDC's identity provider, not ours.
 */
public final class ApiTokenRequest extends BaseAuthenticationRequest {
    private final String token;

    public ApiTokenRequest(String token) {
        this.token = token;
    }

    public String token() {
        return token;
    }
}

package org.groundchat.api;

import io.quarkus.security.AuthenticationFailedException;
import io.quarkus.security.ForbiddenException;
import io.quarkus.security.UnauthorizedException;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.UriInfo;
import org.groundchat.security.SecurityErrors;
import org.jboss.resteasy.reactive.server.ServerExceptionMapper;

/**
 * Security refusals raised inside a resource ({@code @RolesAllowed}, an identity that fails late) leave with a JSON
 * body like every other error; Quarkus' own mappers answer them with an empty 401/403. The 401 of a request stopped
 * before any resource runs is {@code BearerTokenMechanism}'s challenge, with the same body.
 */
public class SecurityExceptionMappers {
    @ServerExceptionMapper({UnauthorizedException.class, AuthenticationFailedException.class})
    public Response unauthorized(RuntimeException e, UriInfo uri) {
        return json(401, uri, SecurityErrors.UNAUTHORIZED, SecurityErrors.UNAUTHORIZED_REASON)
                .header("WWW-Authenticate", "Bearer").build();
    }

    @ServerExceptionMapper
    public Response forbidden(ForbiddenException e, UriInfo uri) {
        return json(403, uri, "forbidden", "Your account may not do this (it needs the admin role).").build();
    }

    private static Response.ResponseBuilder json(int status, UriInfo uri, String code, String reason) {
        return Response.status(status).type(MediaType.APPLICATION_JSON_TYPE)
                .entity(SecurityErrors.body(ApiExceptionMappers.path(uri), code, reason));
    }
}

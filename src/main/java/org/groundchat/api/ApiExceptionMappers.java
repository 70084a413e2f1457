package org.groundchat.api;

import org.groundchat.chat.Reasons;
import org.groundchat.chat.ChatException;
import com.fasterxml.jackson.core.JsonProcessingException;
import jakarta.inject.Inject;
import jakarta.ws.rs.WebApplicationException;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.UriInfo;
import org.groundchat.persistence.DatabaseOutage;
import org.jboss.logging.Logger;
import org.jboss.resteasy.reactive.server.ServerExceptionMapper;

import java.util.Map;

/** Every REST error leaves as {@code {"error": CODE, "reason": "readable text"}}. */
public class ApiExceptionMappers {
    private static final Logger LOG = Logger.getLogger(ApiExceptionMappers.class);
    /** The embedded database's supervisor restarts it within seconds; an external one is the operator's. */
    private static final int RETRY_AFTER_SECONDS = 5;

    @Inject
    RequestBodyLimit bodyLimit;

    public static Response error(int status, String code, String reason) {
        return Response.status(status).type(MediaType.APPLICATION_JSON_TYPE)
                .entity(Map.of("error", code, "reason", reason)).build();
    }

    /** The HTTP status that says a core refusal of this kind. */
    public static int status(ChatException.Kind kind) {
        return switch (kind) {
            case INVALID -> 400;
            case UNAUTHENTICATED -> 401;
            case FORBIDDEN -> 403;
            case NOT_FOUND -> 404;
            case CONFLICT -> 409;
            case TOO_LARGE -> 413;
            case UNSUPPORTED_MEDIA -> 415;
            case UNPROCESSABLE -> 422;
            case RATE_LIMITED -> 429;
            case UNAVAILABLE -> 503;
        };
    }

    @ServerExceptionMapper
    public Response api(ChatException e) {
        int status = status(e.kind());
        if (e.retryAfterSeconds() == null) return error(status, e.code(), e.reason());
        return Response.status(status).type(MediaType.APPLICATION_JSON_TYPE).header("Retry-After", e.retryAfterSeconds())
                .entity(Map.of("error", e.code(), "reason", e.reason(), "retryAfter", e.retryAfterSeconds())).build();
    }

    @ServerExceptionMapper
    public Response badJson(JsonProcessingException e) {
        if (e instanceof com.fasterxml.jackson.core.JsonGenerationException
                || e instanceof com.fasterxml.jackson.databind.exc.InvalidDefinitionException) {
            LOG.error("Response serialization failed", e);
            return error(500, "internal_error", "Internal error while writing the response.");
        }
        return error(400, "invalid_json", "The request body is not valid JSON: " + Reasons.fromParser(e.getOriginalMessage()));
    }

    /** Exact Jackson types: Quarkus' own mappers for them answer 400 with an empty body otherwise. */
    @ServerExceptionMapper
    public Response badJsonSyntax(com.fasterxml.jackson.core.JsonParseException e) {
        return badJson(e);
    }

    @ServerExceptionMapper
    public Response badJsonShape(com.fasterxml.jackson.databind.exc.MismatchedInputException e) {
        return error(400, "invalid_json", "The request body does not have the expected fields and types: "
                + Reasons.fromParser(e.getOriginalMessage()));
    }

    /** A body without Content-Length read past quarkus.http.limits.max-body-size ({@link ChunkedBodyLimit}). */
    @ServerExceptionMapper
    public Response bodyTooLarge(ChunkedBodyLimit.TooLargeException e, UriInfo uri) {
        return tooLarge(uri);
    }

    private Response tooLarge(UriInfo uri) {
        return Response.status(413).type(MediaType.APPLICATION_JSON_TYPE).entity(bodyLimit.body(path(uri))).build();
    }

    /** The request's path with its leading slash (UriInfo may leave it out), as the error bodies' shape needs. */
    static String path(UriInfo uri) {
        String path = uri.getPath();
        return path != null && !path.startsWith("/") ? "/" + path : path;
    }

    @ServerExceptionMapper
    public Response web(WebApplicationException e, UriInfo uri, HttpHeaders headers) {
        int status = e.getResponse().getStatus();
        if (status == 400 && e.getCause() instanceof JsonProcessingException json) {
            return badJson(json);
        }
        if (status == 413) {
            // Quarkus' multipart parser: a body without Content-Length counted past the body limit (one with a
            // larger Content-Length never gets here, RequestBodyLimit refused it), or a form field that is not a
            // file past quarkus.http.limits.max-form-attribute-size
            if (headers.getHeaderString(HttpHeaders.CONTENT_LENGTH) == null) return tooLarge(uri);
            return error(413, "too_large", bodyLimit.formFieldReason());
        }
        String code = switch (status) {
            case 404 -> "not_found";
            case 405 -> "method_not_allowed";
            case 413 -> "too_large";
            case 415 -> "unsupported_media_type";
            default -> status >= 500 ? "internal_error" : "bad_request";
        };
        return error(status, code, e.getMessage() == null ? "HTTP " + status : e.getMessage());
    }

    @ServerExceptionMapper
    public Response unexpected(RuntimeException e) {
        if (DatabaseOutage.isCause(e)) {
            LOG.warnf("Request refused, database unavailable: %s", e.getMessage());
            return api(ChatException.retryLater(ChatException.Kind.UNAVAILABLE, DatabaseOutage.CODE, DatabaseOutage.REASON, RETRY_AFTER_SECONDS));
        }
        LOG.error("Unexpected error", e);
        // the log has the details; the client gets no class names
        return error(500, "internal_error", "Internal error; the server log has the details.");
    }
}

package org.groundchat.openai;

import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.LinkedHashMap;
import java.util.Map;
import org.groundchat.api.ApiExceptionMappers;
import org.groundchat.chat.ChatException;
import org.jboss.resteasy.reactive.server.ServerExceptionMapper;

/**
 * An error of the OpenAI-compatible endpoints, in OpenAI's shape ({@code {"error": {"message", "type", "param",
 * "code"}}}) so that OpenAI clients raise their usual exceptions with a readable message.
 */
public class OpenAiException extends RuntimeException {
    private final int status;
    private final String type;
    private final String code;
    private final String param;
    private Integer retryAfterSeconds;

    public OpenAiException(int status, String type, String code, String param, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.code = code;
        this.param = param;
    }

    static OpenAiException invalid(String param, String code, String message) {
        return new OpenAiException(400, "invalid_request_error", code, param, message);
    }

    /** The core's errors keep their status and code; the type follows OpenAI's names for those statuses. */
    static OpenAiException of(ChatException e) {
        String type = switch (e.kind()) {
            case INVALID, TOO_LARGE, UNSUPPORTED_MEDIA, UNPROCESSABLE -> "invalid_request_error";
            case NOT_FOUND -> "not_found_error";
            case CONFLICT -> "conflict_error";
            case RATE_LIMITED -> "rate_limit_error";
            case UNAUTHENTICATED -> "authentication_error";
            case FORBIDDEN -> "permission_error";
            default -> "server_error";
        };
        OpenAiException out = new OpenAiException(ApiExceptionMappers.status(e.kind()), type, e.code(), null, e.reason());
        out.retryAfterSeconds = e.retryAfterSeconds();
        return out;
    }

    /**
     * OpenAI's SDKs retry 409, 429 and 5xx unless told otherwise: a retried completion would store the question
     * again. Only a full queue and a rate limit are worth retrying.
     */
    boolean retryable() {
        return status == 429 || "server_busy".equals(code);
    }

    public int status() { return status; }

    Map<String, Object> body() {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("message", getMessage());
        error.put("type", type);
        error.put("param", param);
        error.put("code", code);
        return Map.of("error", error);
    }

    public static class Mapper {
        @ServerExceptionMapper
        public Response map(OpenAiException e) {
            Response.ResponseBuilder r = Response.status(e.status).type(MediaType.APPLICATION_JSON_TYPE).entity(e.body())
                    .header("x-should-retry", String.valueOf(e.retryable()));
            if (e.retryAfterSeconds != null) r.header("Retry-After", e.retryAfterSeconds);
            return r.build();
        }
    }
}

package org.groundchat.api;

/**
 * A request that cannot be served, with the HTTP status, a stable machine code and a reason a person can read.
 * Thrown by services; REST turns it into {@code {"error": code, "reason": text}}, the WebSocket into an error event.
 */
public class ApiException extends RuntimeException {
    private final int status;
    private final String code;
    private final Integer retryAfterSeconds;

    public ApiException(int status, String code, String reason) {
        this(status, code, reason, null);
    }

    private ApiException(int status, String code, String reason, Integer retryAfterSeconds) {
        super(reason);
        this.status = status;
        this.code = code;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** 429 rate_limited: the client may try again after this many seconds (Retry-After, and retryAfter in the body). */
    public static ApiException rateLimited(String reason, int retryAfterSeconds) {
        return retryLater(429, "rate_limited", reason, retryAfterSeconds);
    }

    /** A refusal that may succeed after this many seconds (Retry-After, and retryAfter in the body). */
    public static ApiException retryLater(int status, String code, String reason, int retryAfterSeconds) {
        return new ApiException(status, code, reason, retryAfterSeconds);
    }

    /** Seconds after which a refused request may succeed, or null. */
    public Integer retryAfterSeconds() { return retryAfterSeconds; }

    public int status() { return status; }

    public String code() { return code; }

    public String reason() { return getMessage(); }

    public static ApiException badRequest(String code, String reason) { return new ApiException(400, code, reason); }

    public static ApiException notFound(String code, String reason) { return new ApiException(404, code, reason); }

    public static ApiException conflict(String code, String reason) { return new ApiException(409, code, reason); }

    public static ApiException unprocessable(String code, String reason) { return new ApiException(422, code, reason); }
}

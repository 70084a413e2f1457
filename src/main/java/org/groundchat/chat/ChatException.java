package org.groundchat.chat;

/**
 * A request the core cannot serve: what kind of refusal it is, a stable machine code and a reason a person can read.
 * The adapters choose how to say it: REST maps the kind to an HTTP status ({@code {"error": code, "reason": text}}),
 * the WebSocket sends an error event, the OpenAI-style API its own error shape.
 */
public class ChatException extends RuntimeException {
    /** Kinds of refusal; each adapter maps them to its own words (HTTP statuses for REST). */
    public enum Kind {
        INVALID, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, CONFLICT, TOO_LARGE, UNSUPPORTED_MEDIA, UNPROCESSABLE,
        RATE_LIMITED, UNAVAILABLE
    }

    private final Kind kind;
    private final String code;
    private final Integer retryAfterSeconds;

    public ChatException(Kind kind, String code, String reason) {
        this(kind, code, reason, null);
    }

    private ChatException(Kind kind, String code, String reason, Integer retryAfterSeconds) {
        super(reason);
        this.kind = kind;
        this.code = code;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** rate_limited: the client may try again after this many seconds. */
    public static ChatException rateLimited(String reason, int retryAfterSeconds) {
        return retryLater(Kind.RATE_LIMITED, "rate_limited", reason, retryAfterSeconds);
    }

    /** A refusal that may succeed after this many seconds (REST: Retry-After, and retryAfter in the body). */
    public static ChatException retryLater(Kind kind, String code, String reason, int retryAfterSeconds) {
        return new ChatException(kind, code, reason, retryAfterSeconds);
    }

    /** Seconds after which a refused request may succeed, or null. */
    public Integer retryAfterSeconds() { return retryAfterSeconds; }

    public Kind kind() { return kind; }

    public String code() { return code; }

    public String reason() { return getMessage(); }

    public static ChatException badRequest(String code, String reason) { return new ChatException(Kind.INVALID, code, reason); }

    public static ChatException notFound(String code, String reason) { return new ChatException(Kind.NOT_FOUND, code, reason); }

    public static ChatException conflict(String code, String reason) { return new ChatException(Kind.CONFLICT, code, reason); }

    public static ChatException unprocessable(String code, String reason) {
        return new ChatException(Kind.UNPROCESSABLE, code, reason);
    }
}

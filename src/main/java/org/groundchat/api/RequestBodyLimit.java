package org.groundchat.api;

import io.quarkus.runtime.configuration.MemorySize;
import io.quarkus.vertx.http.runtime.RouteConstants;
import io.quarkus.vertx.http.runtime.VertxHttpRecorder;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.HttpVersion;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Singleton;
import java.util.Locale;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.groundchat.security.SecurityErrors;

/**
 * The request body limit ({@code quarkus.http.limits.max-body-size}, the one place it is set) answered in the API's
 * error shape. Quarkus enforces the limit itself in a router handler at {@link RouteConstants#ROUTE_ORDER_UPLOAD_LIMIT}
 * that ends a request whose declared {@code Content-Length} is too big with an <em>empty</em> 413. This handler runs
 * just before it, with the same test, and answers 413 with {@code {"error": "too_large", "reason": ...}} (on
 * {@code /v1/...} in OpenAI's error shape, which OpenAI clients and {@code GroundChatClient} read), without reading
 * the body.
 * <p>
 * Order: the security headers ({@code Integer.MIN_VALUE}), the CORS filter (-300), authentication (-200) and
 * authorization (-100) all run before this (-3): a cross-site request is still refused with 403, and an anonymous
 * request to {@code /api}, {@code /v1} or {@code /ws} gets 401 before its size is looked at, so a caller who may not
 * send there learns nothing about the server's limits. The body is never read either way.
 * <p>
 * The client may still be sending when the 413 leaves. Closing at once (what Quarkus does) makes the kernel answer
 * the unread bytes with a TCP reset, and a client still writing then often loses the response and reports
 * "connection reset" instead. So the connection gets {@code Connection: close}, the rest of the body is read and
 * thrown away, and the connection closes when the body ends; at most {@link #DRAIN_MILLIS} ms and one more limit's
 * worth of bytes, after which it closes anyway. A client that sent {@code Expect: 100-continue} has sent no body: it
 * gets the 413 instead of the 100 and the connection closes after it. HTTP/2 ends the stream, not the connection.
 * <p>
 * Bodies without a {@code Content-Length} (chunked) are counted as they are read: multipart uploads by the form
 * parser, which throws a 413 that {@link ApiExceptionMappers} answers in the same shape; other bodies by
 * {@link ChunkedBodyLimit}. This handler makes sure a 413 given before such a body ended also drains and closes the
 * connection (the rest of that body would otherwise be read as the next request).
 */
@Singleton
public class RequestBodyLimit {
    static final long DRAIN_MILLIS = 10_000;
    private final long maxBytes;
    private final long maxFormFieldBytes;

    RequestBodyLimit(@ConfigProperty(name = "quarkus.http.limits.max-body-size", defaultValue = "10240K") MemorySize max,
                     @ConfigProperty(name = "quarkus.http.limits.max-form-attribute-size", defaultValue = "2048")
                     MemorySize maxFormField) {
        this.maxBytes = max.asLongValue();
        this.maxFormFieldBytes = maxFormField.asLongValue();
    }

    /** The configured limit in bytes. */
    public long maxBytes() { return maxBytes; }

    /** "The request body is larger than the limit of 28 MB." -- in MB (MiB), as the README gives limits. */
    public String reason() {
        return "The request body is larger than the limit of " + megabytes(maxBytes) + " MB.";
    }

    /** A multipart field that is not a file over quarkus.http.limits.max-form-attribute-size. */
    public String formFieldReason() {
        return "A form field that is not a file is larger than the limit of " + maxFormFieldBytes + " bytes.";
    }

    static String megabytes(long bytes) {
        double mb = bytes / (1024.0 * 1024.0);
        return mb == Math.rint(mb) ? Long.toString((long) mb) : String.format(Locale.ROOT, "%.1f", mb);
    }

    void install(@Observes Router router) {
        router.route().order(RouteConstants.ROUTE_ORDER_UPLOAD_LIMIT - 1).handler(this::handle);
        // after Quarkus' handler, which stores the limit for a body without Content-Length: ChunkedBodyLimit counts
        // that body and must find the excess first; Quarkus' count (a little ahead of ours) stays as a backstop
        router.route().order(RouteConstants.ROUTE_ORDER_UPLOAD_LIMIT + 1).handler(ctx -> {
            if (ctx.get(VertxHttpRecorder.MAX_REQUEST_SIZE_KEY) != null) {
                ctx.put(VertxHttpRecorder.MAX_REQUEST_SIZE_KEY, maxBytes + ChunkedBodyLimit.BACKSTOP_SLACK);
            }
            ctx.next();
        });
    }

    void handle(RoutingContext ctx) {
        String declared = ctx.request().getHeader(HttpHeaders.CONTENT_LENGTH);
        if (declared != null) {
            long length;
            try {
                length = Long.parseLong(declared.trim());
            } catch (NumberFormatException e) {
                ctx.next(); // Netty refuses a malformed Content-Length before routing; nothing to add here
                return;
            }
            if (length > maxBytes) {
                refuse(ctx);
                return;
            }
        } else if (ctx.request().headers().contains(HttpHeaders.TRANSFER_ENCODING) && !ctx.request().isEnded()) {
            closeAfterEarly413(ctx);
        }
        ctx.next();
    }

    /** The 413 body for this request's path: the API's shape, or OpenAI's on the OpenAI-compatible endpoints. */
    String body(String path) {
        return SecurityErrors.body(path, "too_large", reason());
    }

    private void refuse(RoutingContext ctx) {
        HttpServerRequest request = ctx.request();
        HttpServerResponse response = ctx.response();
        response.setStatusCode(413).putHeader(HttpHeaders.CONTENT_TYPE, "application/json");
        String body = body(ctx.normalizedPath());
        if (request.version() == HttpVersion.HTTP_2) {
            response.end(body); // Vert.x resets the stream's unread rest; the connection serves other streams
            return;
        }
        response.putHeader(HttpHeaders.CONNECTION, HttpHeaders.CLOSE);
        boolean noBodyComing = request.isEnded()
                || "100-continue".equalsIgnoreCase(request.getHeader(HttpHeaders.EXPECT));
        response.end(body).onComplete(sent -> {
            if (noBodyComing || request.isEnded()) {
                request.connection().close();
            } else {
                drainThenClose(ctx);
            }
        });
    }

    /** Reads and drops the rest of the body so the client can finish writing and read the 413, then closes. */
    private void drainThenClose(RoutingContext ctx) {
        HttpServerRequest request = ctx.request();
        long timer = ctx.vertx().setTimer(DRAIN_MILLIS, id -> request.connection().close());
        Runnable close = () -> {
            ctx.vertx().cancelTimer(timer);
            request.connection().close();
        };
        long[] drained = {0};
        try {
            request.exceptionHandler(e -> close.run());
            request.endHandler(v -> close.run());
            request.handler(chunk -> {
                drained[0] += chunk.length();
                if (drained[0] > maxBytes) close.run();
            });
            request.resume();
        } catch (IllegalStateException ended) {
            close.run(); // the body ended meanwhile: nothing left to drain
        }
    }

    /**
     * A body without Content-Length is refused (413) only once too much of it has been read, before it ended: the
     * client is told to close, the rest of the body is drained and the connection closes, instead of reading the
     * rest of that body as the next request.
     */
    private void closeAfterEarly413(RoutingContext ctx) {
        HttpServerRequest request = ctx.request();
        HttpServerResponse response = ctx.response();
        if (request.version() == HttpVersion.HTTP_2) return;
        ctx.addHeadersEndHandler(v -> {
            if (response.getStatusCode() == 413 && !request.isEnded()) {
                response.putHeader(HttpHeaders.CONNECTION, HttpHeaders.CLOSE);
            }
        });
        ctx.addEndHandler(v -> {
            if (response.getStatusCode() == 413 && !request.isEnded()) drainThenClose(ctx);
        });
    }
}

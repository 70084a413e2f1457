package org.groundchat.security;

import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

/**
 * The bodies of the refusals that Quarkus' security layer answers before any resource runs: 401 for a request that is
 * not signed in (or whose credentials fail), 403 for a browser request from another site. In the API's error shape
 * ({@code {"error": CODE, "reason": "..."}}), on {@code /v1/...} in OpenAI's ({@code {"error": {"message", "type",
 * "param", "code"}}}), which OpenAI clients read.
 */
public final class SecurityErrors {
    public static final String UNAUTHORIZED = "unauthorized";
    public static final String UNAUTHORIZED_REASON = "Sign in or send Authorization: Bearer <token>.";
    public static final String FORBIDDEN_ORIGIN = "forbidden_origin";
    public static final String FORBIDDEN_ORIGIN_REASON = "Requests from another site's pages are refused; this server "
            + "accepts its own pages and programs that send no Origin (allowed origins: groundchat.security.allowed-origins).";

    private SecurityErrors() {}

    /** The JSON body for this path: OpenAI's shape under /v1, the API's elsewhere. */
    public static String body(String path, String code, String reason) {
        if (path != null && (path.equals("/v1") || path.startsWith("/v1/"))) {
            // OpenAI answers a missing or wrong API key with this type too
            return new JsonObject().put("error", new JsonObject().put("message", reason).put("type", "invalid_request_error")
                    .putNull("param").put("code", code)).encode();
        }
        return new JsonObject().put("error", code).put("reason", reason).encode();
    }

    /** Ends the response with this status and the JSON body for the request's path (nothing if it has ended). */
    static void send(RoutingContext ctx, int status, String code, String reason) {
        HttpServerResponse response = ctx.response();
        if (response.ended()) return;
        response.setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
                .putHeader(HttpHeaders.CACHE_CONTROL, "no-store");
        response.end(body(ctx.normalizedPath(), code, reason));
    }
}

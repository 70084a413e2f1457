package org.groundchat.security;

import io.vertx.core.http.HttpServerRequest;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Singleton;
import java.net.URI;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Pattern;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * Says why a browser request from another site is refused. Quarkus' CORS filter (order -300) refuses such a request
 * with an empty 403; this handler runs just before it and answers the requests that filter is certain to refuse with
 * 403 {@code {"error": "forbidden_origin", "reason": ...}} instead. It decides as the filter does -- an
 * {@code Origin} in {@code quarkus.http.cors.origins} (exact, or a {@code /regex/}) or the request's own host passes
 * -- but more loosely (the same host name on any port or scheme passes here), so it never refuses what the filter
 * would let through; the filter still has the last word on what passes here.
 */
@Singleton
public class OriginCheck {
    /** Quarkus' CORS filter runs at -300 (a filter of priority 300); this handler runs just before it. */
    public static final int ORDER = -301;

    private final List<String> exact;
    private final List<Pattern> patterns;
    private final boolean any;

    OriginCheck(@ConfigProperty(name = "quarkus.http.cors.origins") Optional<List<String>> origins) {
        List<String> configured = origins.orElse(List.of()).stream().map(String::strip).filter(o -> !o.isEmpty()).toList();
        any = configured.stream().anyMatch(o -> o.equals("*") || o.equals("/.*/"));
        exact = configured.stream().filter(o -> !isRegex(o)).toList();
        patterns = configured.stream().filter(OriginCheck::isRegex).map(o -> Pattern.compile(o.substring(1, o.length() - 1)))
                .toList();
    }

    private static boolean isRegex(String origin) {
        return origin.length() > 1 && origin.startsWith("/") && origin.endsWith("/");
    }

    void install(@Observes Router router) {
        router.route().order(ORDER).handler(this::handle);
    }

    void handle(RoutingContext ctx) {
        String origin = ctx.request().getHeader("Origin");
        if (origin != null && refused(ctx.request(), origin)) {
            SecurityErrors.send(ctx, 403, SecurityErrors.FORBIDDEN_ORIGIN, SecurityErrors.FORBIDDEN_ORIGIN_REASON);
            return;
        }
        ctx.next();
    }

    /** True only when the CORS filter would refuse this origin too. */
    boolean refused(HttpServerRequest request, String origin) {
        if (any || exact.contains(origin)) return false;
        for (Pattern p : patterns) {
            if (p.matcher(origin).matches()) return false;
        }
        String requestHost = requestHost(request);
        if (requestHost == null) return false; // cannot tell: the filter decides
        String originHost;
        try {
            originHost = URI.create(origin).getHost();
        } catch (IllegalArgumentException malformed) {
            // the filter's fast path only passes an origin equal to scheme://host of the request, a well-formed URI
            return true;
        }
        return originHost == null || !normalized(originHost).equals(requestHost);
    }

    /** The host name the request was sent to, as the filter reads it (the absolute URI), or null. */
    private static String requestHost(HttpServerRequest request) {
        try {
            String host = URI.create(request.absoluteURI()).getHost();
            return host == null ? null : normalized(host);
        } catch (RuntimeException e) {
            return null;
        }
    }

    private static String normalized(String host) {
        String h = host.toLowerCase(Locale.ROOT);
        return h.startsWith("[") && h.endsWith("]") ? h.substring(1, h.length() - 1) : h;
    }
}

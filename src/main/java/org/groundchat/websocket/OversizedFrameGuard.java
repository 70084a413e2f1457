package org.groundchat.websocket;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.websocketx.CorruptedWebSocketFrameException;
import io.netty.handler.codec.http.websocketx.WebSocketCloseStatus;
import io.quarkus.websockets.next.WebSocketConnection;
import io.vertx.core.net.impl.ConnectionBase;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.groundchat.security.OriginCheck;

/**
 * Lets a single frame over {@code quarkus.websockets-next.server.max-frame-size} be answered like a message over the
 * message limit: a {@code frame_too_large} event, then close 1009.
 *
 * <p>Netty's frame decoder refuses such a frame as soon as its header arrives. Vert.x builds that decoder with
 * {@code closeOnProtocolViolation=false} and closes the TCP connection on any decoder exception, so the client saw
 * 1006 and no reason. A guard placed between the decoder and Vert.x' connection handler takes that one exception
 * (status 1009) and hands it to the endpoint, which still has its connection; the decoder then discards whatever
 * else of the frame arrives until the close completes. Any other decoder failure passes on unchanged.
 *
 * <p>The guard is added to the pipeline when the upgrade request arrives (Vert.x' connection is reached through
 * its implementation class: no public API exposes the channel). The endpoint finds its guard by a token in a request
 * header the guard sets itself (overwriting any the client sent).
 */
@ApplicationScoped
public class OversizedFrameGuard {
    static final String TOKEN_HEADER = "X-Groundchat-Frame-Guard";
    private static final String NAME = "groundchat-frame-guard";
    private static final Map<String, Guard> WAITING = new ConcurrentHashMap<>();

    void install(@Observes Router router) {
        router.route("/ws/*").order(OriginCheck.ORDER - 1).handler(this::guard);
    }

    private void guard(RoutingContext ctx) {
        var request = ctx.request();
        if ("websocket".equalsIgnoreCase(request.getHeader("Upgrade")) && request.connection() instanceof ConnectionBase c
                && c.channelHandlerContext().pipeline().get(NAME) == null) { // a refused upgrade may leave one behind
            ChannelHandlerContext handler = c.channelHandlerContext();
            Guard guard = new Guard();
            String token = UUID.randomUUID().toString();
            handler.pipeline().addBefore(handler.name(), NAME, guard);
            WAITING.put(token, guard);
            handler.channel().closeFuture().addListener(f -> WAITING.remove(token));
            request.headers().set(TOKEN_HEADER, token);
        } else {
            ctx.request().headers().remove(TOKEN_HEADER);
        }
        ctx.next();
    }

    /** Gives the opened connection's guard the action to take on an oversized frame (nothing if none was placed). */
    static void onOversizedFrame(WebSocketConnection connection, Runnable action) {
        String token = connection.handshakeRequest().header(TOKEN_HEADER);
        Guard guard = token == null ? null : WAITING.remove(token);
        if (guard != null) guard.arm(action);
    }

    /**
     * A client may send its oversized frame right after the upgrade's 101, before the endpoint's open callback has
     * given the guard its action: the refusal then waits for it (and the connection is closed if it never comes).
     */
    private static final class Guard extends ChannelInboundHandlerAdapter {
        private static final long UNARMED_CLOSE_SECONDS = 10;
        private Runnable action; // guarded by this
        private boolean refused; // an oversized frame arrived before the action: run it when it comes

        void arm(Runnable a) {
            synchronized (this) {
                if (!refused) {
                    action = a;
                    return;
                }
                refused = false;
            }
            a.run();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) throws Exception {
            if (cause instanceof CorruptedWebSocketFrameException e && e.closeStatus() != null
                    && e.closeStatus().code() == WebSocketCloseStatus.MESSAGE_TOO_BIG.code()) {
                Runnable a;
                synchronized (this) {
                    a = action;
                    action = null; // the decoder stays refused: one answer is enough
                    if (a == null) refused = true;
                }
                if (a != null) {
                    a.run();
                } else {
                    ctx.executor().schedule(() -> {
                        boolean unarmed;
                        synchronized (this) {
                            unarmed = refused;
                        }
                        if (unarmed) ctx.close();
                    }, UNARMED_CLOSE_SECONDS, TimeUnit.SECONDS);
                }
                return;
            }
            super.exceptionCaught(ctx, cause);
        }
    }
}

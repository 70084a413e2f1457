package org.groundchat.websocket;

import io.quarkus.runtime.ShutdownDelayInitiatedEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.interceptor.Interceptor;

/**
 * Closes the WebSockets with 1012 when the server begins to stop, after the answer scheduler's graceful stop (which
 * observes the same pre-shutdown event at the default priority, so it runs first and the sockets carry the answers'
 * final events). Needs {@code quarkus.shutdown.delay-enabled=true}.
 */
@ApplicationScoped
class RestartingSockets {
    void stop(@Observes @Priority(Interceptor.Priority.APPLICATION + 900) ShutdownDelayInitiatedEvent e) {
        ChatSocket.closeAllForRestart();
    }
}

package org.groundchat.chat;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/**
 * Readiness goes DOWN as soon as the server begins to stop, so a balancer sends new conversations elsewhere. It also
 * stays DOWN after a database outage until the answers the outage interrupted are stored as failed: the database
 * accepts connections a moment before they are, and a client that reads its conversation once the server is ready
 * must not find an answer still "streaming" that nothing will continue.
 */
@Readiness
@ApplicationScoped
public class AdmissionReadiness implements HealthCheck {
    @Inject
    TurnCoordinator turns;

    @Override
    public HealthCheckResponse call() {
        return HealthCheckResponse.named("answers").status(!turns.isStopping() && !turns.hasUnrecordedEndings()).build();
    }
}

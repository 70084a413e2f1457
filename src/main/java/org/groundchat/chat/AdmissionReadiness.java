package org.groundchat.chat;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/** Readiness goes DOWN as soon as the server begins to stop, so a balancer sends new conversations elsewhere. */
@Readiness
@ApplicationScoped
public class AdmissionReadiness implements HealthCheck {
    @Inject
    TurnCoordinator turns;

    @Override
    public HealthCheckResponse call() {
        return HealthCheckResponse.named("answers").status(!turns.isStopping()).build();
    }
}

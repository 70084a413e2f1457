package org.groundchat.persistence;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;

/**
 * Liveness follows the embedded database only when it cannot come back: a short outage is readiness' business (the
 * datasource check), a server that stays down after the supervisor's restarts needs the application restarted.
 */
@Liveness
@ApplicationScoped
public class EmbeddedDatabaseLiveness implements HealthCheck {
    @Inject
    EmbeddedPostgresSupervisor supervisor;

    @Override
    public HealthCheckResponse call() {
        // no detail: the failure text names paths and ports, and /q/health is open to probes
        return HealthCheckResponse.named("embedded-database").status(!supervisor.hasGivenUp()).build();
    }
}

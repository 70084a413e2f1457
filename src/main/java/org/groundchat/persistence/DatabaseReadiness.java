package org.groundchat.persistence;

import io.agroal.api.AgroalDataSource;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * Readiness follows the database. It replaces Quarkus' datasource check, whose DOWN answer carries the driver's
 * message (host and port of the server) to anyone who can reach /q/health; here the reason stays in the log.
 */
@Readiness
@ApplicationScoped
public class DatabaseReadiness implements HealthCheck {
    private static final int TIMEOUT_SECONDS = 3;

    @Inject
    AgroalDataSource dataSource;

    @Override
    public HealthCheckResponse call() {
        boolean up;
        try (Connection c = dataSource.getConnection()) {
            up = c.isValid(TIMEOUT_SECONDS);
        } catch (SQLException e) {
            up = false;
        }
        return HealthCheckResponse.named("database").status(up).build();
    }
}

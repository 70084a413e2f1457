package org.groundchat.persistence;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Properties;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The embedded server is not open to every local user: the superuser has a generated password, kept only in the
 * data directory (owner-readable), and the server asks for it on TCP; postgres/postgres and no password fail.
 */
class EmbeddedPostgresCredentialsTest {
    @TempDir
    Path tmp;

    @AfterEach
    void stop() {
        EmbeddedPostgresServer.stop(dir());
    }

    @Test
    void theServerAsksForAGeneratedPasswordThatSurvivesARestart() throws Exception {
        EmbeddedPostgresServer server = EmbeddedPostgresServer.startOrReuse(dir());
        String password = server.password();
        assertNotEquals("postgres", password);
        assertTrue(password.length() >= 32, "a long random password");

        SQLException wrong = assertThrows(SQLException.class, () -> connect(server.jdbcUrl(), "postgres"));
        assertEquals("28P01", wrong.getSQLState(), "password authentication failed: " + wrong.getMessage());
        assertThrows(SQLException.class, () -> connect(server.jdbcUrl(), null), "no password, no connection");
        try (Connection c = connect(server.jdbcUrl(), password)) {
            assertTrue(c.isValid(2));
        }
        Path file = server.dataDir().resolve(EmbeddedPostgresCredentials.PASSWORD_FILE);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));

        EmbeddedPostgresServer.stop(dir());
        EmbeddedPostgresServer again = EmbeddedPostgresServer.startOrReuse(dir());
        assertEquals(password, again.password(), "the next start keeps the stored password");
        try (Connection c = connect(again.jdbcUrl(), password)) {
            assertTrue(c.isValid(2));
        }
    }

    private static Connection connect(String url, String password) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", "postgres");
        if (password != null) p.setProperty("password", password);
        return DriverManager.getConnection(url, p);
    }

    private String dir() {
        return tmp.resolve("pg").toString();
    }
}

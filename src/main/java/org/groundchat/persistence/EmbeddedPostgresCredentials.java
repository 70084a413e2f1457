package org.groundchat.persistence;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HexFormat;
import java.util.Optional;

/**
 * The embedded server's password. zonky initialises the cluster with "trust" authentication: any local user could
 * connect as the superuser, with any password or none. At the first start (and for a data directory from an older
 * version) the superuser gets a generated password, kept only in the data directory (readable by its owner alone),
 * and pg_hba.conf is rewritten to require it (SCRAM) on TCP and on the Unix socket.
 */
final class EmbeddedPostgresCredentials {
    static final String USER = "postgres";
    static final String PASSWORD_FILE = "groundchat-password";
    private static final String HBA_MARKER = "# GroundChat: every connection needs the generated password";

    private EmbeddedPostgresCredentials() {}

    /** The stored password, if this data directory has one. */
    static Optional<String> stored(Path dataDir) {
        Path file = dataDir.resolve(PASSWORD_FILE);
        if (!Files.isRegularFile(file)) return Optional.empty();
        try {
            String password = Files.readString(file, StandardCharsets.UTF_8).strip();
            return password.isEmpty() ? Optional.empty() : Optional.of(password);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("Could not read the database password in " + dataDir, e);
        }
    }

    /**
     * Makes sure the superuser has a password and that the server asks for it. {@code admin} is a connection as the
     * superuser, made before the change (with trust or with the stored password). Idempotent; each step is safe to
     * repeat after a crash between two of them (the password file is written before pg_hba.conf requires it).
     */
    static String secure(Path dataDir, Connection admin) throws IOException, SQLException {
        Optional<String> existing = stored(dataDir);
        String password = existing.orElseGet(EmbeddedPostgresCredentials::generate);
        if (existing.isEmpty()) {
            try (Statement s = admin.createStatement()) {
                // a generated hex string: nothing to escape in the literal
                s.execute("alter user " + USER + " with password '" + password + "'");
            }
            Path file = dataDir.resolve(PASSWORD_FILE);
            Files.deleteIfExists(file);
            Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.writeString(file, password + "\n", StandardCharsets.UTF_8, StandardOpenOption.TRUNCATE_EXISTING);
        }
        Path hba = dataDir.resolve("pg_hba.conf");
        if (!Files.readString(hba).contains(HBA_MARKER)) {
            Files.writeString(hba, String.join("\n", HBA_MARKER,
                    "local all all scram-sha-256",
                    "host all all 127.0.0.1/32 scram-sha-256",
                    "host all all ::1/128 scram-sha-256", ""), StandardCharsets.UTF_8);
            try (Statement s = admin.createStatement()) {
                s.execute("select pg_reload_conf()");
            }
        }
        return password;
    }

    private static String generate() {
        byte[] bytes = new byte[24];
        new SecureRandom().nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }
}

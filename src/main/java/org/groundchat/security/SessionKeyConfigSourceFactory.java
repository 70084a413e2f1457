package org.groundchat.security;

import io.smallrye.config.ConfigSourceContext;
import io.smallrye.config.ConfigSourceFactory;
import io.smallrye.config.ConfigValue;
import io.smallrye.config.PropertiesConfigSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.eclipse.microprofile.config.spi.ConfigSource;
import org.groundchat.persistence.EmbeddedPostgresConfigSourceFactory;

/**
 * Keeps people signed in across restarts: without {@code quarkus.http.auth.session.encryption-key} Quarkus encrypts
 * session cookies with a key made at each start, so every restart signs everyone out. Unless a key is configured,
 * this supplies one kept in {@code session.key} beside the database directory (created on the first start, readable
 * by the owner only). Replicas behind one load balancer must share a key: configure it for all of them.
 */
public class SessionKeyConfigSourceFactory implements ConfigSourceFactory {
    static final String KEY = "quarkus.http.auth.session.encryption-key";
    static final int ORDINAL = 150; // below application.properties (250), env (300) and system properties (400)

    @Override
    public Iterable<ConfigSource> getConfigSources(ConfigSourceContext context) {
        if (EmbeddedPostgresConfigSourceFactory.isBuildTime()) return List.of();
        ConfigValue configured = context.getValue(KEY);
        if (configured != null && configured.getValue() != null && !configured.getValue().isBlank()) return List.of();
        ConfigValue dbDir = context.getValue("groundchat.db.dir");
        String dir = dbDir != null && dbDir.getValue() != null && !dbDir.getValue().isBlank() ? dbDir.getValue() : ".data/postgres";
        Path parent = Path.of(dir).toAbsolutePath().getParent();
        Path file = (parent == null ? Path.of(dir).toAbsolutePath() : parent).resolve("session.key");
        try {
            return List.of(new PropertiesConfigSource(Map.of(KEY, readOrCreate(file)), "groundchat-session-key", ORDINAL));
        } catch (UncheckedIOException unwritable) {
            // a read-only working directory must not stop the app: Quarkus then makes a key per start (and says so)
            return List.of();
        }
    }

    static String readOrCreate(Path file) {
        try {
            if (!Files.exists(file)) {
                Files.createDirectories(file.getParent());
                byte[] key = new byte[32];
                new SecureRandom().nextBytes(key);
                // written whole under another name, then renamed: a reader never sees a half-written key
                Path tmp = Files.createTempFile(file.getParent(), "session", ".tmp");
                try {
                    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-------"));
                } catch (UnsupportedOperationException notPosix) {
                    // the file system has no POSIX permissions: the directory's own protection applies
                }
                Files.writeString(tmp, Base64.getEncoder().encodeToString(key), StandardCharsets.US_ASCII);
                try {
                    Files.move(tmp, file);
                } catch (FileAlreadyExistsException raced) {
                    Files.delete(tmp); // another class loader of this JVM (tests) made it first: use theirs
                }
            }
            String key = Files.readString(file, StandardCharsets.US_ASCII).strip();
            if (key.length() < 16) throw new IllegalStateException("The session key in " + file.getFileName() + " is too short: delete the file to make a new one.");
            return key;
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read or create the session key file", e);
        }
    }
}

package org.groundchat.persistence;

import io.smallrye.config.ConfigSourceContext;
import io.smallrye.config.ConfigSourceFactory;
import io.smallrye.config.ConfigValue;
import io.smallrye.config.PropertiesConfigSource;
import org.eclipse.microprofile.config.spi.ConfigSource;

import java.util.List;
import java.util.Map;

/**
 * Zero-setup database: when no {@code quarkus.datasource.jdbc.url} is configured, starts an embedded PostgreSQL
 * server (data in {@code groundchat.db.dir}, default {@code .data/postgres}) and supplies its URL at a low ordinal,
 * so any configured URL (property, env QUARKUS_DATASOURCE_JDBC_URL) wins.
 * <p>
 * Quarkus also calls config factories while it builds the application; a URL produced then would be recorded
 * into the packaged app, so during the build this factory supplies nothing.
 */
public class EmbeddedPostgresConfigSourceFactory implements ConfigSourceFactory {
    static final int ORDINAL = 150; // below application.properties (250), env (300) and system properties (400)
    /** The embedded server's data directory, present only when the embedded server is in use (its supervisor). */
    public static final String DATA_DIR_PROPERTY = "groundchat.db.embedded-data-dir";

    @Override
    public Iterable<ConfigSource> getConfigSources(ConfigSourceContext context) {
        if (isBuildTime()) return List.of();
        if (hasValue(context, "quarkus.datasource.jdbc.url")) return List.of();
        String enabled = value(context, "groundchat.db.embedded", "true");
        if (!Boolean.parseBoolean(enabled)) return List.of();
        String dir = value(context, "groundchat.db.dir", ".data/postgres");
        String url = jdbcUrl(dir);
        String dataDir = System.getProperty(dataDirKey(dir));
        Map<String, String> props = Map.of(
                "quarkus.datasource.jdbc.url", url,
                DATA_DIR_PROPERTY, dataDir,
                "quarkus.datasource.username", EmbeddedPostgresCredentials.USER,
                // read from the data directory, not kept in a system property that any code in the JVM could list
                "quarkus.datasource.password", EmbeddedPostgresServer.storedPassword(java.nio.file.Path.of(dataDir)));
        return List.of(new PropertiesConfigSource(props, "groundchat-embedded-postgres", ORDINAL));
    }

    /**
     * One server per data directory and JVM. The URL is kept in a system property because this factory runs in
     * more than one class loader (tests: the JUnit launcher's and the application's), and a second server on the
     * same directory would fail on its lock file. The server stops with the JVM (zonky's shutdown hook).
     */
    static String jdbcUrl(String dir) {
        String key = "groundchat.embedded-postgres.url." + java.nio.file.Path.of(dir).toAbsolutePath();
        synchronized (System.getProperties()) {
            String url = System.getProperty(key);
            if (url == null) {
                EmbeddedPostgresServer server = EmbeddedPostgresServer.startOrReuse(dir);
                url = server.jdbcUrl();
                System.setProperty(dataDirKey(dir), server.dataDir().toString());
                System.setProperty(key, url);
            }
            return url;
        }
    }

    /** Where the directory actually is ("temp" names a fresh one), kept beside the URL for the same reason. */
    private static String dataDirKey(String dir) {
        return "groundchat.embedded-postgres.dir." + java.nio.file.Path.of(dir).toAbsolutePath();
    }

    /** True while Quarkus augments the application (build step classes are on the call stack). */
    public static boolean isBuildTime() {
        return StackWalker.getInstance().walk(frames ->
                frames.anyMatch(f -> f.getClassName().startsWith("io.quarkus.deployment.")));
    }

    private static boolean hasValue(ConfigSourceContext context, String name) {
        ConfigValue v = context.getValue(name);
        return v != null && v.getValue() != null && !v.getValue().isBlank();
    }

    private static String value(ConfigSourceContext context, String name, String defaultValue) {
        ConfigValue v = context.getValue(name);
        return v != null && v.getValue() != null && !v.getValue().isBlank() ? v.getValue() : defaultValue;
    }
}

package org.groundchat.persistence;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The zero-setup PostgreSQL server: one zonky embedded server per data directory and JVM, reused when the
 * configuration is built again (several times per boot) and stopped when the application shuts down.
 */
public final class EmbeddedPostgresServer {
    private static final Logger LOG = Logger.getLogger(EmbeddedPostgresServer.class);
    static final String DATABASE = "groundchat";
    /** Value of groundchat.db.dir that asks for a throw-away directory (tests). */
    public static final String TEMP_DIR = "temp";

    private static final Map<String, EmbeddedPostgresServer> RUNNING = new HashMap<>();

    private final EmbeddedPostgres postgres;
    private final Path dataDir;
    private final boolean deleteOnStop;
    private final String password;

    private EmbeddedPostgresServer(EmbeddedPostgres postgres, Path dataDir, boolean deleteOnStop, String password) {
        this.postgres = postgres;
        this.dataDir = dataDir;
        this.deleteOnStop = deleteOnStop;
        this.password = password;
    }

    /** Starts the server for {@code dir} (or returns the running one); existing data in the directory is kept. */
    public static synchronized EmbeddedPostgresServer startOrReuse(String dir) {
        EmbeddedPostgresServer running = RUNNING.get(dir);
        if (running != null) return running;
        try {
            boolean temp = TEMP_DIR.equals(dir);
            Path dataDir = temp ? Files.createTempDirectory("groundchat-pg-") : Path.of(dir).toAbsolutePath();
            Files.createDirectories(dataDir);
            OrphanedPostmaster.stopIfOrphaned(dataDir);
            long t0 = System.nanoTime();
            EmbeddedPostgres.Builder builder = EmbeddedPostgres.builder();
            // zonky checks the started server with a connection of its own: it needs the password once there is one
            EmbeddedPostgresCredentials.stored(dataDir).ifPresent(p -> builder.setConnectConfig("password", p));
            EmbeddedPostgres pg = builder
                    .setDataDirectory(dataDir)
                    .setCleanDataDirectory(false) // keep the data between restarts
                    .setRegisterShutdownHook(true) // a JVM that exits without a Quarkus shutdown still stops it
                    // zonky is tuned for throw-away test databases (-F, no synchronous commit); conversations are
                    // user data, so commits reach the disk before they are acknowledged
                    .setServerConfig("fsync", "on")
                    .setServerConfig("synchronous_commit", "on")
                    .start();
            createDatabaseIfMissing(pg);
            String password;
            try (Connection admin = pg.getPostgresDatabase().getConnection()) {
                password = EmbeddedPostgresCredentials.secure(dataDir, admin);
            } catch (java.sql.SQLException e) {
                throw new IOException("Could not set the database password", e);
            }
            LOG.infof("Embedded PostgreSQL started on port %d with data in %s (%d ms)", pg.getPort(), dataDir,
                    (System.nanoTime() - t0) / 1_000_000);
            EmbeddedPostgresServer server = new EmbeddedPostgresServer(pg, dataDir, temp, password);
            RUNNING.put(dir, server);
            return server;
        } catch (IOException e) {
            throw new UncheckedIOException("Could not start the embedded PostgreSQL server in " + dir
                    + " (set quarkus.datasource.jdbc.url to use an external server)", e);
        }
    }

    private static void createDatabaseIfMissing(EmbeddedPostgres pg) throws IOException {
        try (Connection c = pg.getPostgresDatabase().getConnection(); Statement s = c.createStatement()) {
            try (ResultSet rs = s.executeQuery("select 1 from pg_database where datname = '" + DATABASE + "'")) {
                if (rs.next()) return;
            }
            s.execute("create database " + DATABASE);
        } catch (java.sql.SQLException e) {
            throw new IOException("Could not create database " + DATABASE, e);
        }
    }

    public String jdbcUrl() {
        return "jdbc:postgresql://localhost:" + postgres.getPort() + "/" + DATABASE;
    }

    public Path dataDir() {
        return dataDir;
    }

    public String user() {
        return EmbeddedPostgresCredentials.USER;
    }

    /** The generated password (EmbeddedPostgresCredentials); also readable from the data directory by its owner. */
    public String password() {
        return password;
    }

    /** The password stored in a data directory this or another class loader started (see the config factory). */
    static String storedPassword(Path dataDir) {
        return EmbeddedPostgresCredentials.stored(dataDir)
                .orElseThrow(() -> new IllegalStateException("The database password is missing in " + dataDir));
    }

    /** Stops every server this JVM started (application shutdown). */
    public static synchronized void stopAll() {
        for (EmbeddedPostgresServer server : RUNNING.values()) server.stop();
        RUNNING.clear();
    }

    /** Stops the server of one directory, if this JVM runs one. */
    public static synchronized void stop(String dir) {
        EmbeddedPostgresServer server = RUNNING.remove(dir);
        if (server != null) server.stop();
    }

    private void stop() {
        try {
            postgres.close();
            LOG.infof("Embedded PostgreSQL stopped (%s)", dataDir);
            if (deleteOnStop) deleteTree(dataDir);
        } catch (IOException e) {
            LOG.warnf(e, "Could not stop the embedded PostgreSQL server in %s", dataDir);
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}

package org.groundchat.persistence;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The embedded database after the application process dies without shutting down: a real second JVM starts the
 * server, stores a row and is killed with SIGKILL; the PostgreSQL process it leaves behind must not keep the next
 * start out, and the row must still be there. A directory used by a live process must be refused clearly.
 */
class EmbeddedPostgresRecoveryTest {
    @TempDir
    Path tmp;
    private final List<Process> children = new ArrayList<>();

    @AfterEach
    void cleanUp() throws Exception {
        for (Process p : children) {
            p.destroyForcibly();
            p.waitFor(30, TimeUnit.SECONDS);
        }
        EmbeddedPostgresServer.stop(dataDir());
        PostmasterPidFile.stopLeftover(Path.of(dataDir()));
    }

    @Test
    void aKilledApplicationsDatabaseStartsAgainWithItsData() throws Exception {
        Process child = startChild("written before the kill");
        long orphan = postmasterPid();
        child.destroyForcibly();
        assertTrue(child.waitFor(30, TimeUnit.SECONDS));
        assertTrue(ProcessHandle.of(orphan).map(ProcessHandle::isAlive).orElse(false),
                "precondition: the killed JVM's PostgreSQL process outlives it");

        EmbeddedPostgresServer server = EmbeddedPostgresServer.startOrReuse(dataDir());

        assertFalse(ProcessHandle.of(orphan).map(ProcessHandle::isAlive).orElse(false), "the orphan was stopped");
        try (Connection c = DriverManager.getConnection(server.jdbcUrl(), server.user(), server.password());
             Statement s = c.createStatement(); ResultSet rs = s.executeQuery("select note from survivor")) {
            assertTrue(rs.next());
            assertEquals("written before the kill", rs.getString(1));
        }
    }

    @Test
    void aDirectoryInUseByALiveProcessIsRefusedWithAReason() throws Exception {
        startChild("still running");
        long running = postmasterPid();

        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> EmbeddedPostgresServer.startOrReuse(dataDir()));

        assertTrue(e.getMessage().contains("in use by another running GroundChat process"), e.getMessage());
        assertTrue(ProcessHandle.of(running).map(ProcessHandle::isAlive).orElse(false), "the live server was left alone");
    }

    private String dataDir() {
        return tmp.resolve("pg").toString();
    }

    private Process startChild(String note) throws Exception {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "-cp", cp, EmbeddedPostgresChild.class.getName(), dataDir(), note)
                .redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.PIPE).start();
        children.add(p);
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        StringBuilder seen = new StringBuilder();
        for (String line; (line = out.readLine()) != null; ) {
            if (line.equals("READY")) {
                Thread drain = new Thread(() -> out.lines().forEach(l -> { }));
                drain.setDaemon(true);
                drain.start();
                return p;
            }
            seen.append(line).append('\n');
        }
        throw new AssertionError("child process ended before READY:\n" + seen);
    }

    private long postmasterPid() throws Exception {
        return PostmasterPidFile.pid(Path.of(dataDir()));
    }
}

package org.groundchat.persistence;

import org.jboss.logging.Logger;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Recovers the embedded data directory after the application was killed (kill -9, OOM killer, power loss of
 * the JVM only). The PostgreSQL server runs as its own process and outlives a killed JVM; its postmaster.pid
 * then keeps every later start out ("lock file postmaster.pid already exists"). zonky's {@code epg-lock} file
 * tells the two cases apart: a live application holds a lock on it, a killed one does not. So a postmaster
 * whose directory is unlocked is an orphan, and it is stopped (SIGTERM, a clean shutdown) before the new start.
 */
final class OrphanedPostmaster {
    private static final Logger LOG = Logger.getLogger(OrphanedPostmaster.class);
    static final String ZONKY_LOCK_FILE = "epg-lock";
    private static final long STOP_TIMEOUT_SECONDS = 60;

    private OrphanedPostmaster() {}

    /** Stops an orphaned postmaster of {@code dataDir}; fails clearly when another live process uses the directory. */
    static void stopIfOrphaned(Path dataDir) {
        Path pidFile = dataDir.resolve("postmaster.pid");
        if (!Files.isRegularFile(pidFile)) return;
        try (FileChannel channel = FileChannel.open(dataDir.resolve(ZONKY_LOCK_FILE), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE); FileLock lock = channel.tryLock()) {
            if (lock == null) {
                throw new IllegalStateException("The database directory " + dataDir + " is in use by another running"
                        + " GroundChat process; stop it first or set groundchat.db.dir to another directory.");
            }
            Optional<ProcessHandle> postmaster = PostmasterProcess.recorded(dataDir);
            if (postmaster.isEmpty()) return; // stale pid file of a dead server: PostgreSQL handles that itself
            ProcessHandle p = postmaster.get();
            LOG.warnf("Stopping PostgreSQL process %d left running in %s by an application that did not shut down",
                    p.pid(), dataDir);
            p.destroy();
            p.onExit().get(STOP_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (IOException e) {
            throw new UncheckedIOException("Could not check the database directory " + dataDir, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while stopping the old PostgreSQL server in " + dataDir, e);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("The old PostgreSQL server in " + dataDir + " did not stop within "
                    + STOP_TIMEOUT_SECONDS + " s", e);
        }
    }
}

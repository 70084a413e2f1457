package org.groundchat.persistence;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** Test helper: the PostgreSQL server process recorded in a data directory's postmaster.pid. */
public final class PostmasterPidFile {
    private PostmasterPidFile() {}

    /** The pid of the server that runs (or ran) on {@code dataDir}. */
    public static long pid(Path dataDir) throws IOException {
        return Long.parseLong(Files.readAllLines(dataDir.resolve("postmaster.pid")).get(0).strip());
    }

    /** Cleanup after a test that killed its application: stops a server still running on {@code dataDir}. */
    public static void stopLeftover(Path dataDir) throws IOException {
        if (!Files.isRegularFile(dataDir.resolve("postmaster.pid"))) return;
        ProcessHandle.of(pid(dataDir)).ifPresent(p -> {
            p.destroy();
            p.onExit().orTimeout(30, TimeUnit.SECONDS).join();
        });
    }
}

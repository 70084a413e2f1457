package org.groundchat.persistence;

import io.zonky.test.db.postgres.util.LinuxUtils;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The embedded server's process, seen through the files PostgreSQL keeps in its data directory: postmaster.pid
 * (which process serves it) and postmaster.opts (the command line of its last start). Reading them instead of
 * holding zonky's handle lets any class loader of the application supervise the server, and a restart uses exactly
 * the binaries, port and settings of the first start.
 */
final class PostmasterProcess {
    private static final long START_TIMEOUT_SECONDS = 30;
    static final String RESTART_LOG = "postgres-restart.log";

    private PostmasterProcess() {}

    /** True while the process named by postmaster.pid is a live (not zombie) postgres server of this directory. */
    static boolean isRunning(Path dataDir) {
        try {
            return recorded(dataDir).filter(p -> !isZombie(p.pid())).isPresent();
        } catch (IOException e) {
            return false; // no pid file (stopped) or one being written: not running as far as we can tell
        }
    }

    /**
     * The live process named by postmaster.pid, if it is a postgres server of this directory (pids get reused);
     * empty when there is no pid file or it names nothing alive.
     */
    static Optional<ProcessHandle> recorded(Path dataDir) throws IOException {
        Path pidFile = dataDir.resolve("postmaster.pid");
        if (!Files.isRegularFile(pidFile)) return Optional.empty();
        List<String> lines = Files.readAllLines(pidFile);
        if (lines.size() < 2) return Optional.empty();
        long pid;
        try {
            pid = Long.parseLong(lines.get(0).strip());
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
        Path recordedDir = Path.of(lines.get(1).strip());
        if (!Files.isDirectory(recordedDir) || !Files.isSameFile(recordedDir, dataDir)) return Optional.empty();
        return ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
                .filter(p -> p.info().command().map(c -> c.endsWith("/postgres")).orElse(false));
    }

    /**
     * Starts the server again with its last command line. A pid file left by a dead server is removed first:
     * PostgreSQL itself would refuse to start while its pid names any live process, and after a crash in a container
     * that pid may be a zombie or belong to another program.
     */
    static void restart(Path dataDir) throws IOException, InterruptedException {
        if (isRunning(dataDir)) return;
        String opts = Files.readString(dataDir.resolve("postmaster.opts")).strip();
        int binaryEnd = opts.indexOf(' ');
        if (binaryEnd < 0) throw new IOException("postmaster.opts has no options");
        Path postgres = Path.of(opts.substring(0, binaryEnd));
        Path pgCtl = postgres.resolveSibling("pg_ctl");
        Files.deleteIfExists(dataDir.resolve("postmaster.pid"));

        List<String> command = new ArrayList<>();
        // zonky runs the server this way as root (PostgreSQL refuses root); the restart must match the first start
        if (LinuxUtils.isUnshareAvailable()) command.addAll(List.of("unshare", "-U"));
        command.addAll(List.of(pgCtl.toString(), "-D", dataDir.toString(), "-w", "-t", Long.toString(START_TIMEOUT_SECONDS),
                "-o", opts.substring(binaryEnd + 1), "-l", dataDir.resolve(RESTART_LOG).toString(), "start"));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        if (!p.waitFor(START_TIMEOUT_SECONDS + 10, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("pg_ctl did not return within " + (START_TIMEOUT_SECONDS + 10) + " s");
        }
        if (p.exitValue() != 0) throw new IOException("pg_ctl start failed: " + lastLogLine(dataDir));
    }

    /** A killed server whose parent never reaps it stays in the process table as a zombie; it serves nothing. */
    private static boolean isZombie(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            int afterName = stat.lastIndexOf(')');
            return afterName > 0 && afterName + 2 < stat.length() && stat.charAt(afterName + 2) == 'Z';
        } catch (IOException e) {
            return true; // gone between the two looks
        }
    }

    /** The server's own reason (its last FATAL line, e.g. the port is taken), else its last line. */
    private static String lastLogLine(Path dataDir) {
        try {
            List<String> lines = Files.readAllLines(dataDir.resolve(RESTART_LOG));
            String last = null;
            for (int i = lines.size() - 1; i >= 0; i--) {
                String line = lines.get(i).strip();
                if (line.contains("FATAL:")) return line;
                if (last == null && !line.isEmpty()) last = line;
            }
            if (last != null) return last;
        } catch (IOException ignored) {
            // no log: pg_ctl failed before the server wrote one
        }
        return "no server log";
    }
}

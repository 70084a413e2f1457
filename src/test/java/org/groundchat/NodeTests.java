package org.groundchat;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs a folder of `node --test` files under frontend/ against the test's running app, and fails with their output. */
public final class NodeTests {
    private NodeTests() {}

    public static void run(String folder, Map<String, String> env, int minutes, String what) throws Exception {
        ProcessBuilder pb = new ProcessBuilder("node", "--test", "--test-concurrency=1", folder + "/")
                .directory(new File("frontend")).redirectErrorStream(true);
        pb.environment().put("GOLDEN_DIR", new File("models/default/golden").getAbsolutePath());
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        boolean finished = p.waitFor(minutes, TimeUnit.MINUTES);
        System.out.println(out);
        if (!finished) p.destroyForcibly();
        assertEquals(0, finished ? p.exitValue() : -1, what + " failed:\n" + out);
    }
}

package org.groundchat.api;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import java.io.File;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The browser UI end to end in Debian's Chromium (playwright-core, frontend/e2e/) against this test's running app
 * with the real model and database. Screenshots of each step go to target/e2e-screenshots/.
 */
@QuarkusTest
class BrowserEndToEndTest {
    @TestHTTPResource("/")
    URI base;

    @Test
    void theUiWorksInARealBrowser() throws Exception {
        ProcessBuilder pb = new ProcessBuilder("node", "--test", "--test-concurrency=1", "e2e/")
                .directory(new File("frontend")).redirectErrorStream(true);
        pb.environment().put("GROUNDCHAT_URL", base.toString());
        pb.environment().put("GOLDEN_DIR", new File("models/default/golden").getAbsolutePath());
        pb.environment().put("SCREENSHOT_DIR", new File("target/e2e-screenshots").getAbsolutePath());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        boolean finished = p.waitFor(10, TimeUnit.MINUTES);
        System.out.println(out);
        if (!finished) p.destroyForcibly();
        assertEquals(0, finished ? p.exitValue() : -1, "browser tests failed:\n" + out);
    }
}

package org.groundchat.api;

import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import java.io.File;
import java.net.URI;
import java.util.Map;
import org.groundchat.NodeTests;
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
        NodeTests.run("e2e", Map.of("GROUNDCHAT_URL", base.toString(),
                "SCREENSHOT_DIR", new File("target/e2e-screenshots").getAbsolutePath()), 10, "browser tests");
    }
}

package org.groundchat.inference;

import java.nio.file.Path;

/** The bundle the tests run: the committed models/default, or another one via -Dgroundchat.bundle=DIR. */
final class TestBundle {
    private TestBundle() {}

    static Path dir() {
        return Path.of(System.getProperty("groundchat.bundle", "models/default"));
    }
}

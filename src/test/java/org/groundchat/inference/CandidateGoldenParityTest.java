package org.groundchat.inference;

import java.nio.file.Path;

/**
 * The contract-2 candidate model (models/candidate: location keys for the box decoder and point head, region features
 * in the box encoder) against its own golden vectors: the Java engine reproduces it exactly, although it is not the
 * default model yet (models/EXPERIMENTS.md says why).
 */
class CandidateGoldenParityTest extends GoldenParityTest {
    @Override
    Path bundle() {
        return Path.of("models/candidate");
    }
}

package org.groundchat.inference;

import java.nio.file.Path;
import java.util.List;

/** SKELETON - real implementation in progress. */
public final class GroundingEngine implements AutoCloseable {
    private final BundleManifest manifest;

    private GroundingEngine(BundleManifest manifest) { this.manifest = manifest; }

    public static GroundingEngine open(Path bundleDir, EngineOptions options) {
        return new GroundingEngine(BundleManifest.load(bundleDir));
    }

    public GenerationEvents.GenerationResult generate(GenerationRequest req, GenerationListener listener) {
        throw new InferenceException("not implemented yet");
    }

    public List<DenseCaption> denseCaptions(byte[] image, int max, CancellationToken cancellation) {
        throw new InferenceException("not implemented yet");
    }

    public BundleManifest manifest() { return manifest; }

    @Override
    public void close() {}
}

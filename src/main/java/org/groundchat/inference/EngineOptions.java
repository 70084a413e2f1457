package org.groundchat.inference;

import java.nio.file.Path;

/**
 * How the engine is opened.
 *
 * @param bundleDir        model bundle folder (bundle.json, ONNX files, tokenizer.json)
 * @param useCuda          try the CUDA execution provider first; falls back to CPU with a log line
 * @param featureCacheSize how many encoded images to keep (LRU, keyed by SHA-256 of the image bytes)
 * @param maxImagePixels   uploads with more pixels (width*height) are rejected
 * @param maxImageBytes    uploads with more bytes are rejected
 * @param intraOpThreads   ONNX Runtime intra-op threads of the image-sized models (vision encoder, mask decoder,
 *                         proposal head); 0 lets ORT choose. The per-token models always use the calling thread.
 */
public record EngineOptions(Path bundleDir, boolean useCuda, int featureCacheSize, long maxImagePixels,
                            long maxImageBytes, int intraOpThreads) {

    public static final Path DEFAULT_BUNDLE_DIR = Path.of("models", "default");

    public EngineOptions {
        if (bundleDir == null) bundleDir = DEFAULT_BUNDLE_DIR;
        if (featureCacheSize < 0) throw new IllegalArgumentException("featureCacheSize must be >= 0");
        if (maxImagePixels <= 0) throw new IllegalArgumentException("maxImagePixels must be > 0");
        if (maxImageBytes <= 0) throw new IllegalArgumentException("maxImageBytes must be > 0");
        if (intraOpThreads < 0) throw new IllegalArgumentException("intraOpThreads must be >= 0");
    }

    /** Bundle at models/default (relative to the working directory), CPU, 32 cached images, 40 MP, 20 MB. */
    public static EngineOptions defaults() {
        return new EngineOptions(DEFAULT_BUNDLE_DIR, false, 32, 40_000_000L, 20L * 1024 * 1024, 0);
    }

    public EngineOptions withBundleDir(Path dir) {
        return new EngineOptions(dir, useCuda, featureCacheSize, maxImagePixels, maxImageBytes, intraOpThreads);
    }

    public EngineOptions withUseCuda(boolean cuda) {
        return new EngineOptions(bundleDir, cuda, featureCacheSize, maxImagePixels, maxImageBytes, intraOpThreads);
    }

    public EngineOptions withFeatureCacheSize(int size) {
        return new EngineOptions(bundleDir, useCuda, size, maxImagePixels, maxImageBytes, intraOpThreads);
    }

    public EngineOptions withMaxImagePixels(long pixels) {
        return new EngineOptions(bundleDir, useCuda, featureCacheSize, pixels, maxImageBytes, intraOpThreads);
    }

    public EngineOptions withMaxImageBytes(long bytes) {
        return new EngineOptions(bundleDir, useCuda, featureCacheSize, maxImagePixels, bytes, intraOpThreads);
    }
}

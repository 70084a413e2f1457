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
 *                         proposal head); 0 lets ORT choose. The per-token models always use one thread.
 * @param maxBatch         how many answers running at the same time share one decoder call per step (continuous
 *                         batching, driven by one of the waiting callers; more wait for a place); 1 runs every
 *                         answer on its caller's thread with its own decoder calls, as before batching existed
 * @param promptCacheSize  how many prefilled prompts to keep (their KV caches, ~6 KB per position): a prompt that
 *                         starts like a kept one (the conversation's previous turn, or the same image) is prefilled
 *                         only from where they differ. 0 (the engine's default) prefills every prompt whole, which
 *                         keeps answers bit-for-bit those of the golden files; a reused prefix changes the floats of
 *                         what follows by rounding only (about 1e-6)
 */
public record EngineOptions(Path bundleDir, boolean useCuda, int featureCacheSize, long maxImagePixels,
                            long maxImageBytes, int intraOpThreads, int maxBatch, int promptCacheSize) {

    public static final Path DEFAULT_BUNDLE_DIR = Path.of("models", "default");

    /** Answers decoded together by default (BENCHMARKS.md, "Batched decoding"). */
    public static final int DEFAULT_MAX_BATCH = 16;

    public EngineOptions {
        if (bundleDir == null) bundleDir = DEFAULT_BUNDLE_DIR;
        if (featureCacheSize < 0) throw new IllegalArgumentException("featureCacheSize must be >= 0");
        if (maxImagePixels <= 0) throw new IllegalArgumentException("maxImagePixels must be > 0");
        if (maxImageBytes <= 0) throw new IllegalArgumentException("maxImageBytes must be > 0");
        if (intraOpThreads < 0) throw new IllegalArgumentException("intraOpThreads must be >= 0");
        if (maxBatch < 1) throw new IllegalArgumentException("maxBatch must be >= 1");
        if (promptCacheSize < 0) throw new IllegalArgumentException("promptCacheSize must be >= 0");
    }

    /** Without a prompt cache. */
    public EngineOptions(Path bundleDir, boolean useCuda, int featureCacheSize, long maxImagePixels, long maxImageBytes,
                         int intraOpThreads, int maxBatch) {
        this(bundleDir, useCuda, featureCacheSize, maxImagePixels, maxImageBytes, intraOpThreads, maxBatch, 0);
    }

    /** With the default batch size. */
    public EngineOptions(Path bundleDir, boolean useCuda, int featureCacheSize, long maxImagePixels, long maxImageBytes,
                         int intraOpThreads) {
        this(bundleDir, useCuda, featureCacheSize, maxImagePixels, maxImageBytes, intraOpThreads, DEFAULT_MAX_BATCH);
    }

    /** Bundle at models/default (relative to the working directory), CPU, 32 cached images, 40 MP, 20 MB. */
    public static EngineOptions defaults() {
        return new EngineOptions(DEFAULT_BUNDLE_DIR, false, 32, 40_000_000L, 20L * 1024 * 1024, 0);
    }

    public EngineOptions withBundleDir(Path dir) {
        return new EngineOptions(dir, useCuda, featureCacheSize, maxImagePixels, maxImageBytes, intraOpThreads,
                maxBatch, promptCacheSize);
    }

    public EngineOptions withUseCuda(boolean cuda) {
        return new EngineOptions(bundleDir, cuda, featureCacheSize, maxImagePixels, maxImageBytes, intraOpThreads,
                maxBatch, promptCacheSize);
    }

    public EngineOptions withFeatureCacheSize(int size) {
        return new EngineOptions(bundleDir, useCuda, size, maxImagePixels, maxImageBytes, intraOpThreads, maxBatch,
                promptCacheSize);
    }

    public EngineOptions withMaxImagePixels(long pixels) {
        return new EngineOptions(bundleDir, useCuda, featureCacheSize, pixels, maxImageBytes, intraOpThreads,
                maxBatch, promptCacheSize);
    }

    public EngineOptions withMaxImageBytes(long bytes) {
        return new EngineOptions(bundleDir, useCuda, featureCacheSize, maxImagePixels, bytes, intraOpThreads,
                maxBatch, promptCacheSize);
    }

    public EngineOptions withIntraOpThreads(int threads) {
        return new EngineOptions(bundleDir, useCuda, featureCacheSize, maxImagePixels, maxImageBytes, threads,
                maxBatch, promptCacheSize);
    }

    public EngineOptions withMaxBatch(int batch) {
        return new EngineOptions(bundleDir, useCuda, featureCacheSize, maxImagePixels, maxImageBytes, intraOpThreads,
                batch, promptCacheSize);
    }

    public EngineOptions withPromptCacheSize(int size) {
        return new EngineOptions(bundleDir, useCuda, featureCacheSize, maxImagePixels, maxImageBytes, intraOpThreads,
                maxBatch, size);
    }
}

package org.groundchat.inference;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import org.groundchat.inference.GenerationEvents.GenerationResult;

/**
 * Runs the model bundle with pix2emb routing. At every {@code <at>} the decoder's hidden state goes to the box
 * decoder instead of the LM head; the box is announced at once and re-enters the sequence as the box encoder's
 * embedding at the following {@code <boxes>} slot, so decoding continues knowing where the object is.
 * A box a user draws enters the prompt the same way. Thread-safe: one engine serves many requests. Answers running
 * at the same time are decoded together (continuous batching, {@link DecodeBatcher}) unless
 * {@link EngineOptions#maxBatch()} is 1; either way each caller blocks in {@link #generate} for its own answer.
 */
public final class GroundingEngine implements ChatEngine {
    private final BundleManifest manifest;
    private final EngineOptions options;
    private final OnnxBundle onnx;
    private final WordLevelTokenizer tokenizer;
    private final ImagePreprocessor preprocessor;
    private final PromptBuilder prompts;
    private final FeatureCache cache;
    private final float[] tokenEmbeddings; // [vocab, D], read once from embed_tokens.onnx
    private final int hidden;
    private final int[] banned;
    // what the bundle's contract names and shapes (1: the heads attend image_embeds, the box encoder reads the box
    // alone; 2: box_keys / point_keys, and the box encoder also reads the feature map), fixed once at open: the heads
    // run per word and per region
    private final boolean contract2;
    private final String boxKeysInput, pointKeysInput;
    private final long[] keysShape, featureMapShape;
    /** Null when batching is off (maxBatch 1): each answer then runs on its caller's thread. */
    private final DecodeBatcher batcher;
    /** Prefilled prompts kept for reuse, or null when {@link EngineOptions#promptCacheSize()} is 0. */
    private final PromptCache promptCache;
    /** Threads that wait for the region captions of dense captioning, so the batch decodes them together. */
    private final ExecutorService captionThreads;

    private GroundingEngine(BundleManifest manifest, EngineOptions options) {
        this.manifest = manifest;
        this.options = options;
        BundleManifest.requireSupportedVersion(manifest.version());
        this.tokenizer = WordLevelTokenizer.load(manifest.file("tokenizer"));
        if (tokenizer.vocabSize() != manifest.dims().vocab()) {
            throw new InferenceException("tokenizer.json has " + tokenizer.vocabSize() + " tokens but bundle.json dims.vocab is "
                    + manifest.dims().vocab());
        }
        this.preprocessor = new ImagePreprocessor(manifest.image());
        this.prompts = new PromptBuilder(tokenizer, manifest);
        this.cache = new FeatureCache(options.featureCacheSize());
        this.hidden = manifest.dims().hidden();
        this.contract2 = manifest.hasLocationKeys();
        this.boxKeysInput = contract2 ? "box_keys" : "image_embeds";
        this.pointKeysInput = contract2 ? "point_keys" : "image_embeds";
        BundleManifest.Dims d = manifest.dims();
        this.keysShape = contract2 ? new long[] {1, d.locationTokens(), 2L * hidden} : new long[] {1, d.imageTokens(), hidden};
        this.featureMapShape = new long[] {1, d.featureChannels(), d.featureSize(), d.featureSize()};
        this.onnx = new OnnxBundle(manifest, options);
        this.tokenEmbeddings = embedVocabulary();
        List<Integer> b = new ArrayList<>();
        manifest.raw().path("generation").path("banned").forEach(n -> b.add(n.asInt()));
        BundleManifest.SpecialTokens sp = manifest.specialTokens();
        if (b.isEmpty()) b.addAll(List.of(sp.pad(), sp.unk(), sp.image(), sp.boxes(), sp.user(), sp.assistant()));
        this.banned = b.stream().mapToInt(Integer::intValue).toArray();
        this.promptCache = options.promptCacheSize() > 0 ? new PromptCache(options.promptCacheSize()) : null;
        this.batcher = options.maxBatch() > 1 ? new DecodeBatcher(this, onnx, d, options.maxBatch()) : null;
        this.captionThreads = batcher == null ? null : Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "groundchat-caption");
            t.setDaemon(true);
            return t;
        });
    }

    public static GroundingEngine open(Path bundleDir, EngineOptions options) {
        return new GroundingEngine(BundleManifest.load(bundleDir), options.withBundleDir(bundleDir));
    }

    public static GroundingEngine open(EngineOptions options) {
        return open(options.bundleDir(), options);
    }

    public BundleManifest manifest() { return manifest; }

    @Override
    public com.fasterxml.jackson.databind.JsonNode bundle() { return manifest.raw(); }

    @Override
    public boolean hasDenseCaptions() { return true; }

    public WordLevelTokenizer tokenizer() { return tokenizer; }

    @Override
    public boolean usesCuda() { return onnx.cuda; }

    /** Images run through the vision encoder since the engine opened (each cache miss). */
    @Override
    public long imageEncodes() { return cache.encodes(); }

    /** Image lookups answered from the feature cache since the engine opened. */
    @Override
    public long featureCacheHits() { return cache.hits(); }

    private float[] embedVocabulary() {
        int v = manifest.dims().vocab();
        long[] ids = new long[v];
        for (int i = 0; i < v; i++) ids[i] = i;
        try (var t = Tensors.longs(onnx.env, ids, 1, v); var r = onnx.embedTokens.run(Map.of("input_ids", t))) {
            return Tensors.read(r, "inputs_embeds");
        } catch (ai.onnxruntime.OrtException e) {
            throw new InferenceException("embed_tokens failed: " + e.getMessage(), e);
        }
    }

    /** Decodes (with the engine's limits) and encodes an image, or returns its cached features. */
    ImageFeatures features(byte[] imageBytes) {
        return featuresFor(checkedSha(imageBytes), imageBytes);
    }

    private ImageFeatures featuresFor(String sha, byte[] imageBytes) {
        return cache.get(sha, () -> encode(ImageDecoder.decode(imageBytes, options.maxImagePixels(), sha)));
    }

    /** The image's SHA-256 (its cache key), after the size checks every use of an image starts with. */
    private String checkedSha(byte[] imageBytes) {
        if (imageBytes == null || imageBytes.length == 0) throw new ImageRejectedException("An image is required.");
        if (imageBytes.length > options.maxImageBytes()) {
            throw new ImageRejectedException("The image is too large: " + imageBytes.length + " bytes, the limit is "
                    + options.maxImageBytes() + " bytes.");
        }
        return ImageDecoder.sha256Hex(imageBytes);
    }

    private ImageFeatures encode(DecodedImage img) {
        long t0 = System.nanoTime();
        int s = preprocessor.size();
        Map<String, float[]> in = Map.of("pixel_values", preprocessor.pixelValues(img.image()));
        Map<String, long[]> shape = Map.of("pixel_values", new long[] {1, 3, s, s});
        if (!contract2) { // contract 1: the location heads attend the image tokens
            float[][] out = Tensors.run(onnx.env, onnx.vision, in, shape, "image_embeds", "feature_map");
            return new ImageFeatures(img.sha256(), img.width(), img.height(), out[0], out[1], out[0], out[0], ms(t0));
        }
        float[][] out = Tensors.run(onnx.env, onnx.vision, in, shape, "image_embeds", "feature_map", "box_keys", "point_keys");
        return new ImageFeatures(img.sha256(), img.width(), img.height(), out[0], out[1], out[2], out[3], ms(t0));
    }

    /** The image's size in pixels (decoding it if it is not cached yet). */
    public int[] imageSize(byte[] imageBytes) {
        ImageFeatures f = features(imageBytes);
        return new int[] {f.width(), f.height()};
    }

    /** Context positions kept free for the answer when a prompt is laid out (older turns are dropped for it). */
    static final int ANSWER_RESERVE = 64;

    /**
     * Whether a user message (model text) fits the context on its own, with the image rows and room for an answer.
     * Older turns are dropped to make room, but a message that does not fit alone can never be answered, so the
     * service refuses it before storing anything.
     */
    @Override
    public boolean fitsAlone(String userModelText) {
        return prompts.fitsAlone(userModelText, ANSWER_RESERVE);
    }

    /**
     * Generates one answer, reporting events to the listener as they happen; blocks until it ends. The image encode
     * and the prompt prefill run on the calling thread. With batching on, the decoding steps run together with the
     * other answers in flight, on the thread of whichever caller drives the batch (this one when it is alone), and so
     * do the listener's callbacks after {@code onEncoded}: a listener must not block, and must not call
     * {@code generate} itself.
     */
    @Override
    public GenerationResult generate(GenerationRequest req, GenerationListener listener) {
        long t0 = System.nanoTime();
        // hash once (or not at all for a stored image): a cache hit costs no encoding, so it reports 0 ms
        GenerationRequest.StoredImage stored = req.stored();
        String sha = stored != null ? stored.sha256() : checkedSha(req.image());
        ImageFeatures cached = cache.peek(sha);
        ImageFeatures f = cached != null ? cached : stored != null ? features(stored.bytes().get()) : featuresFor(sha, req.image());
        double encodeMs = cached != null ? 0 : f.encodeMs();
        listener.onEncoded(encodeMs);
        int requested = req.options().maxNewTokens();
        int maxNew = requested <= 0 ? manifest.generation().maxNewTokens() : Math.min(requested, manifest.dims().maxSeq());
        PromptBuilder.Prompt p = prompts.build(req.turns(), f.width(), f.height(), Math.min(maxNew, ANSWER_RESERVE));
        AnswerSequence seq = new AnswerSequence(this, f, req, listener, p, maxNew, t0, encodeMs);
        if (batcher == null) return AnswerLoop.run(this, seq);
        return batcher.run(seq, AnswerLoop.prefill(this, seq));
    }

    /** Dense captioning: proposal head -> score threshold and NMS -> a region caption for each kept box. */
    @Override
    public List<DenseCaption> denseCaptions(byte[] image, int max, CancellationToken cancellation) {
        if (cancellation != null && cancellation.isCancelled()) return List.of(); // asked for and given up while waiting
        ImageFeatures f = features(image);
        float[][] out = Tensors.run(onnx.env, onnx.proposalHead, Map.of("feature_map", f.inputs().featureMap),
                Map.of("feature_map", featureMapShape), "proposal_boxes", "proposal_scores");
        BundleManifest.ProposalSpec ps = manifest.proposals();
        List<Integer> keep = Nms.select(out[0], out[1], ps.scoreThreshold(), ps.nmsIou(), Math.max(0, max));
        List<PixelBox> boxes = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        for (int i : keep) {
            float[] nb = {out[0][4 * i], out[0][4 * i + 1], out[0][4 * i + 2], out[0][4 * i + 3]};
            PixelBox box = BoxGeometry.toPixels(nb, f.width(), f.height());
            if (box.area() > 0) {
                boxes.add(box);
                scores.add(out[1][i]);
            }
        }
        // with batching on, the region captions are asked together and share the decoder's steps
        List<Future<GenerationResult>> answers = new ArrayList<>();
        for (PixelBox box : boxes) {
            GenerationRequest r = new GenerationRequest(image, List.of(PromptTurn.user("what is this <boxes> ?", List.of(box))),
                    new GenerationOptions(0, 1, 0, 16, 0, false, false), null, cancellation);
            Callable<GenerationResult> caption = () -> generate(r, GenerationListener.NONE);
            answers.add(captionThreads != null ? captionThreads.submit(caption) : new FutureTask<>(caption));
        }
        List<DenseCaption> captions = new ArrayList<>();
        try {
            for (int k = 0; k < answers.size(); k++) {
                if (cancellation != null && cancellation.isCancelled()) break;
                GenerationResult res = await(answers.get(k));
                if (res.finishReason() == GenerationEvents.FinishReason.CANCELLED) break;
                captions.add(new DenseCaption(boxes.get(k), scores.get(k), res.displayText()));
            }
        } finally {
            // captions not started yet never start after the call (a failed caption, a cancellation); running ones
            // end within their 16 tokens or at the cancellation (no interrupt: a caption may be driving the batch)
            for (Future<GenerationResult> pending : answers) pending.cancel(false);
        }
        return captions;
    }

    private static GenerationResult await(Future<GenerationResult> answer) {
        try {
            if (answer instanceof FutureTask<GenerationResult> t && !t.isDone()) t.run();
            return answer.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            throw new InferenceException("a region caption failed: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InferenceException("interrupted while captioning", e);
        }
    }

    /** The batch runner, or null when batching is off; tests read its counters. */
    DecodeBatcher batcher() { return batcher; }

    // ---- model parts used by AnswerSequence, AnswerLoop and HeadCalls ----

    float[] tokenEmbedding(int id) {
        float[] e = new float[hidden];
        System.arraycopy(tokenEmbeddings, id * hidden, e, 0, hidden);
        return e;
    }

    /**
     * Box decoder: hidden states at {@code <at>} ([n, D]; they attend the image's location keys) -> normalized boxes
     * [n, 4]. Rows are independent: a row comes out bit-identical whether it is decoded alone or with others.
     */
    float[] boxDecode(float[] hiddenStates, int n, ImageFeatures f) {
        return Tensors.run(onnx.env, onnx.boxDecoder, Map.of("hidden_state", hiddenStates, boxKeysInput, f.inputs().boxKeys),
                Map.of("hidden_state", new long[] {n, hidden}, boxKeysInput, keysShape), "box")[0];
    }

    /**
     * Box encoder: normalized boxes [n, 4] and the feature map of the image they lie in (pooled inside each box) ->
     * the input embeddings [n, D] of {@code <boxes>} slots, also the mask decoder's location embeddings.
     */
    float[] boxEncode(float[] normalizedBoxes, int n, ImageFeatures f) {
        if (!contract2) { // contract 1: the box alone
            return Tensors.run(onnx.env, onnx.boxEncoder, Map.of("box", normalizedBoxes), Map.of("box", new long[] {n, 4}),
                    "box_embedding")[0];
        }
        return Tensors.run(onnx.env, onnx.boxEncoder, Map.of("box", normalizedBoxes, "feature_map", f.inputs().featureMap),
                Map.of("box", new long[] {n, 4}, "feature_map", featureMapShape), "box_embedding")[0];
    }

    float[] boxEncode(float[] normalizedBox, ImageFeatures f) { return boxEncode(normalizedBox, 1, f); }

    /** Point head: words' hidden states [n, D] (they attend the image's location keys) -> normalized points [n, 2]. */
    float[] points(float[] hiddenStates, int n, ImageFeatures f) {
        return Tensors.run(onnx.env, onnx.pointHead, Map.of("hidden_state", hiddenStates, pointKeysInput, f.inputs().pointKeys),
                Map.of("hidden_state", new long[] {n, hidden}, pointKeysInput, keysShape), "point")[0];
    }

    /** Mask logits [M*M] and the predicted mask quality for a box and its location embedding. */
    float[][] mask(ImageFeatures f, float[] box, float[] locationEmbedding) {
        return Tensors.run(onnx.env, onnx.maskDecoder,
                Map.of("feature_map", f.inputs().featureMap, "box", box, "location_embedding", locationEmbedding),
                Map.of("feature_map", featureMapShape, "box", new long[] {1, 4},
                        "location_embedding", new long[] {1, hidden}),
                "mask_logits", "mask_score");
    }

    KvCacheDecoder newDecoder() { return new KvCacheDecoder(onnx, manifest.dims()); }

    KvCacheDecoder newDecoder(PromptCache.Prefix prefix) { return new KvCacheDecoder(onnx, manifest.dims(), prefix); }

    /** A batch of up to {@code rows} decoders, for tests: the batching thread makes its own. */
    BatchDecoder newBatchDecoder(int rows) { return new BatchDecoder(onnx, manifest.dims(), rows); }

    PromptCache promptCache() { return promptCache; }

    int[] banned() { return banned; }

    static double ms(long since) { return (System.nanoTime() - since) / 1e6; }

    @Override
    public void close() {
        if (captionThreads != null) captionThreads.shutdownNow();
        if (batcher != null) batcher.close(); // ends its thread before the sessions it calls go
        onnx.close();
    }
}

package org.groundchat.inference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.groundchat.inference.GenerationEvents.FinishReason;
import org.groundchat.inference.GenerationEvents.GenerationResult;
import org.groundchat.inference.GenerationEvents.RegionEvent;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Streaming, routing, cancellation, caching, concurrency and bad input, on the real bundled model. */
class EngineBehaviourTest {
    static GroundingEngine engine;
    static Path dir;
    static byte[] scene;
    static JsonNode truth;
    /** A sparse golden scene (case 7): the shipped model localizes reliably there (see models/default/EVAL.md). */
    static byte[] sparseScene;
    static JsonNode sparseTruth;

    @BeforeAll
    static void open() throws IOException {
        dir = TestBundle.dir();
        engine = GroundingEngine.open(dir, EngineOptions.defaults().withBundleDir(dir));
        JsonNode golden = new ObjectMapper().readTree(dir.resolve("golden/golden.json").toFile());
        JsonNode c = golden.path("cases").get(1); // the "describe the image" scene: several objects
        scene = Files.readAllBytes(dir.resolve("golden").resolve(c.path("image").asText()));
        truth = c.path("truth");
        JsonNode sparse = golden.path("cases").get(7);
        sparseScene = Files.readAllBytes(dir.resolve("golden").resolve(sparse.path("image").asText()));
        sparseTruth = sparse.path("truth");
    }

    @AfterAll
    static void close() {
        engine.close();
    }

    static GenerationRequest ask(String text, List<PixelBox> boxes, CancellationToken cancel) {
        return new GenerationRequest(scene, List.of(PromptTurn.user(text, boxes)), GenerationOptions.greedy(),
                i -> "[" + (i + 7) + "]", cancel);
    }

    @Test
    void streamedDeltasSpellTheDisplayTextAndRegionsArriveBeforeDone() {
        List<String> order = new ArrayList<>();
        StringBuilder streamed = new StringBuilder();
        GenerationResult r = engine.generate(ask("describe the image .", List.of(), null), new GenerationListener() {
            @Override public void onTextDelta(String d) { streamed.append(d); order.add("text"); }
            @Override public void onRegion(RegionEvent e) { order.add("region"); }
            @Override public void onMask(GenerationEvents.MaskEvent e) { order.add("mask"); }
            @Override public void onDone(GenerationResult g) { order.add("done"); }
        });
        assertEquals(r.displayText(), streamed.toString());
        assertEquals("done", order.get(order.size() - 1));
        assertFalse(r.displayText().contains("<"), "markup must not reach the display text: " + r.displayText());
        assertFalse(r.regions().isEmpty(), "describing a scene with objects locates them: " + r.modelText());
        for (RegionEvent e : r.regions()) {
            assertTrue(r.displayText().contains("[" + (e.index() + 7) + "]"), "label of region " + e.index());
            assertEquals(e.phrase(), r.displayText().substring(e.phraseStart(), e.phraseEnd()));
            assertTrue(order.indexOf("region") < order.lastIndexOf("text"), "regions stream while text still arrives");
        }
        assertEquals(r.regions().size(), r.masks().size());
        assertEquals(FinishReason.STOP, r.finishReason());
    }

    @Test
    void theRegionBelongsToAnObjectOfTheScene() {
        GenerationResult r = engine.generate(new GenerationRequest(sparseScene,
                List.of(PromptTurn.user("describe the image .", List.of())), GenerationOptions.greedy(), null, null),
                GenerationListener.NONE);
        int matched = 0;
        assertFalse(r.regions().isEmpty(), r.modelText());
        for (RegionEvent e : r.regions()) {
            for (JsonNode t : sparseTruth) {
                JsonNode b = t.path("box_px");
                PixelBox tb = new PixelBox(b.get(0).asDouble(), b.get(1).asDouble(), b.get(2).asDouble(), b.get(3).asDouble());
                if (tb.iou(e.box()) >= 0.5) {
                    matched++;
                    break;
                }
            }
        }
        assertTrue(matched * 2 >= r.regions().size(), "most located regions should be real objects: " + matched + "/"
                + r.regions().size());
    }

    @Test
    void aDrawnRegionEntersThroughTheBoxEncoderAndGetsACaption() {
        JsonNode b = truth.get(0).path("box_px");
        PixelBox box = new PixelBox(b.get(0).asDouble(), b.get(1).asDouble(), b.get(2).asDouble(), b.get(3).asDouble());
        GenerationResult r = engine.generate(ask("what is this <boxes> ?", List.of(box), null), GenerationListener.NONE);
        assertFalse(r.displayText().isBlank());
        assertTrue(r.regions().isEmpty(), "a region caption names the region, it does not locate anew: " + r.modelText());
    }

    @Test
    void cancellingStopsTheAnswer() {
        CancellationToken cancel = new CancellationToken();
        GenerationResult r = engine.generate(ask("describe the image .", List.of(), cancel), new GenerationListener() {
            @Override public void onTextDelta(String d) { cancel.cancel(); }
        });
        assertEquals(FinishReason.CANCELLED, r.finishReason());
        assertTrue(r.completionTokens() <= 3, "stopped right after the first word: " + r.modelText());
    }

    @Test
    void theImageIsEncodedOnceAndThenComesFromTheCache() {
        engine.generate(ask("how many stars are there ?", List.of(), null), GenerationListener.NONE);
        GenerationResult again = engine.generate(ask("how many squares are there ?", List.of(), null), GenerationListener.NONE);
        assertEquals(0.0, again.timings().encodeMs());
    }

    @Test
    void concurrentAnswersEqualSequentialOnes() throws Exception {
        List<String> questions = List.of("describe the image .", "find all circles .", "is there a red star ?",
                "how many blue objects are there ?");
        List<String> sequential = new ArrayList<>();
        for (String q : questions) sequential.add(engine.generate(ask(q, List.of(), null), GenerationListener.NONE).modelText());
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<String>> futures = new ArrayList<>();
            for (int rep = 0; rep < 2; rep++) {
                for (String q : questions) {
                    futures.add(pool.submit(() -> engine.generate(ask(q, List.of(), null), GenerationListener.NONE).modelText()));
                }
            }
            for (int i = 0; i < futures.size(); i++) assertEquals(sequential.get(i % questions.size()), futures.get(i).get());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void samplingWithTheSameSeedRepeats() {
        GenerationOptions o = new GenerationOptions(0.9, 0.9, 20, 40, 42, false, false);
        GenerationRequest req = new GenerationRequest(scene, List.of(PromptTurn.user("describe the image .", List.of())), o, null, null);
        String a = engine.generate(req, GenerationListener.NONE).modelText();
        String b = engine.generate(req, GenerationListener.NONE).modelText();
        assertEquals(a, b);
    }

    @Test
    void badInputIsRejectedWithAReason() {
        InferenceException notImage = assertThrows(ImageRejectedException.class, () -> engine.generate(
                new GenerationRequest("hello".getBytes(), List.of(PromptTurn.user("hi", List.of())), null, null, null),
                GenerationListener.NONE));
        assertTrue(notImage.getMessage().contains("not an image"), notImage.getMessage());
        InferenceException nan = assertThrows(InferenceException.class, () -> engine.generate(
                ask("what is this <boxes> ?", List.of(new PixelBox(Double.NaN, 0, 10, 10)), null), GenerationListener.NONE));
        assertTrue(nan.getMessage().contains("not a number"), nan.getMessage());
        InferenceException outside = assertThrows(InferenceException.class, () -> engine.generate(
                ask("what is this <boxes> ?", List.of(new PixelBox(0, 0, 5000, 10)), null), GenerationListener.NONE));
        assertTrue(outside.getMessage().contains("outside"), outside.getMessage());
        InferenceException slots = assertThrows(InferenceException.class, () -> engine.generate(
                ask("what is this <boxes> ?", List.of(), null), GenerationListener.NONE));
        assertTrue(slots.getMessage().contains("1 region slot(s) but 0 box(es)"), slots.getMessage());
        InferenceException tooLong = assertThrows(InferenceException.class, () -> engine.generate(
                ask("where is the red star ? ".repeat(80), List.of(), null), GenerationListener.NONE));
        assertTrue(tooLong.getMessage().contains("too long"), tooLong.getMessage());
    }

    @Test
    void aBrokenBundleFailsAtOpenWithTheProblemNamed(@TempDir Path tmp) throws IOException {
        InferenceException missing = assertThrows(InferenceException.class,
                () -> GroundingEngine.open(tmp, EngineOptions.defaults()));
        assertTrue(missing.getMessage().contains("bundle.json"), missing.getMessage());

        for (Path p : Files.list(dir).filter(Files::isRegularFile).toList()) Files.copy(p, tmp.resolve(p.getFileName()));
        Files.delete(tmp.resolve("mask_decoder.onnx"));
        InferenceException noFile = assertThrows(InferenceException.class,
                () -> GroundingEngine.open(tmp, EngineOptions.defaults()));
        assertTrue(noFile.getMessage().contains("mask_decoder"), noFile.getMessage());

        Files.copy(dir.resolve("mask_decoder.onnx"), tmp.resolve("mask_decoder.onnx"));
        ObjectMapper om = new ObjectMapper();
        ObjectNode manifest = (ObjectNode) om.readTree(dir.resolve("bundle.json").toFile());
        ((ObjectNode) manifest.path("dims")).put("hidden", 999);
        om.writeValue(tmp.resolve("bundle.json").toFile(), manifest);
        InferenceException shape = assertThrows(InferenceException.class,
                () -> GroundingEngine.open(tmp, EngineOptions.defaults()));
        assertTrue(shape.getMessage().contains("999"), shape.getMessage());

        manifest.put("version", "7.0");
        om.writeValue(tmp.resolve("bundle.json").toFile(), manifest);
        InferenceException version = assertThrows(InferenceException.class,
                () -> GroundingEngine.open(tmp, EngineOptions.defaults()));
        assertTrue(version.getMessage().contains("7.0"), version.getMessage());
    }

    @Test
    void aContract2BundleWithoutLocationKeysFailsAtOpenWithTheTensorNamed(@TempDir Path tmp) throws IOException {
        Path candidate = Path.of("models/candidate");
        for (Path p : Files.list(candidate).filter(Files::isRegularFile).toList()) Files.copy(p, tmp.resolve(p.getFileName()));
        GroundingEngine.open(tmp, EngineOptions.defaults()).close(); // the intact copy opens
        // the same graphs with the tensor renamed (same length, so the protobuf stays valid): as a v1 export lacks it
        for (String[] modelAndTensor : List.of(new String[] {"vision_encoder", "box_keys"},
                new String[] {"vision_encoder", "point_keys"}, new String[] {"box_decoder", "box_keys"},
                new String[] {"point_head", "point_keys"})) {
            String model = modelAndTensor[0], tensor = modelAndTensor[1];
            Path file = tmp.resolve(model + ".onnx");
            byte[] original = Files.readAllBytes(file);
            Files.write(file, renamed(original, tensor, tensor.substring(0, tensor.length() - 1) + "_"));
            InferenceException e = assertThrows(InferenceException.class,
                    () -> GroundingEngine.open(tmp, EngineOptions.defaults()));
            assertTrue(e.getMessage().contains(model) && e.getMessage().contains("'" + tensor + "'")
                    && e.getMessage().contains("contract 2"), model + "/" + tensor + ": " + e.getMessage());
            Files.write(file, original);
        }
        Path boxEncoder = tmp.resolve("box_encoder.onnx");
        Files.write(boxEncoder, renamed(Files.readAllBytes(boxEncoder), "feature_map", "feature_mop"));
        InferenceException e = assertThrows(InferenceException.class,
                () -> GroundingEngine.open(tmp, EngineOptions.defaults()));
        assertTrue(e.getMessage().contains("box_encoder") && e.getMessage().contains("'feature_map'"), e.getMessage());
    }

    private static byte[] renamed(byte[] model, String name, String sameLength) {
        byte[] from = name.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        byte[] to = sameLength.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        byte[] out = model.clone();
        int hits = 0;
        outer:
        for (int i = 0; i + from.length <= out.length; i++) {
            for (int k = 0; k < from.length; k++) if (out[i + k] != from[k]) continue outer;
            System.arraycopy(to, 0, out, i, to.length);
            hits++;
        }
        assertTrue(hits > 0, name + " not found in the model");
        return out;
    }

    @Test
    void pixelAndNormalizedBoxesRoundTrip() {
        int w = 300, h = 200;
        PixelBox b = new PixelBox(10, 20, 150, 199);
        float[] n = BoxGeometry.toNormalized(b, w, h);
        assertArrayEquals(new double[] {10, 20, 150, 199}, BoxGeometry.toPixels(n, w, h).toArray(), 1e-3);
        assertEquals(200.0 / 300, BoxGeometry.toPixels(new float[] {0, 0, 1, 1}, w, h).y2() / 300, 1e-9,
                "boxes reaching into the padding are clipped to the image");
    }

    @Test
    void aStoredImageIsReadOnlyWhenItsFeaturesAreNotCached() throws Exception {
        String sha = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(sparseScene));
        java.util.concurrent.atomic.AtomicInteger reads = new java.util.concurrent.atomic.AtomicInteger();
        GenerationRequest.StoredImage stored = new GenerationRequest.StoredImage(sha, () -> {
            reads.incrementAndGet();
            return sparseScene;
        });
        List<PromptTurn> ask = List.of(PromptTurn.user("where is the red circle ?", List.of()));
        try (GroundingEngine fresh = GroundingEngine.open(TestBundle.dir(), EngineOptions.defaults().withBundleDir(TestBundle.dir()))) {
            GenerationResult first = fresh.generate(GenerationRequest.about(stored, ask, null, null, null), GenerationListener.NONE);
            assertEquals(1, reads.get(), "a cache miss reads the bytes once");
            GenerationResult second = fresh.generate(GenerationRequest.about(stored, ask, null, null, null), GenerationListener.NONE);
            assertEquals(1, reads.get(), "a cached image is found by its stored hash, its bytes not read again");
            assertEquals(first.displayText(), second.displayText());
            GenerationResult fromBytes = fresh.generate(new GenerationRequest(sparseScene, ask, null, null, null), GenerationListener.NONE);
            assertEquals(first.displayText(), fromBytes.displayText(), "the same image either way");
            assertEquals(0, fromBytes.timings().encodeMs(), "the bytes hash to the stored key: a cache hit");
        }
    }
}

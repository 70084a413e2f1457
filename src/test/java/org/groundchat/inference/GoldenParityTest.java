package org.groundchat.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.groundchat.inference.GenerationEvents.GenerationResult;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The Java engine against the bundle's golden vectors (produced by the PyTorch reference in export.py): same tokens,
 * boxes within 1e-3, mask IoU >= 0.99, word points within 1e-3, on the real bundled model.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GoldenParityTest {
    GroundingEngine engine;
    JsonNode golden;
    Path dir;

    /** The bundle under test: the default one here, the contract-2 candidate in {@link CandidateGoldenParityTest}. */
    Path bundle() {
        return TestBundle.dir();
    }

    @BeforeAll
    void open() throws Exception {
        dir = bundle();
        engine = GroundingEngine.open(dir, EngineOptions.defaults().withBundleDir(dir));
        golden = new ObjectMapper().readTree(dir.resolve("golden/golden.json").toFile());
    }

    @AfterAll
    void close() {
        engine.close();
    }

    @Test
    void everyGoldenCaseMatchesThePyTorchReference() throws Exception {
        JsonNode tol = golden.path("tolerances");
        double boxTol = tol.path("box").asDouble(), pointTol = tol.path("point").asDouble();
        double maskIou = tol.path("mask_iou").asDouble();
        int cases = 0, regions = 0, points = 0;
        for (JsonNode c : golden.path("cases")) {
            byte[] image = Files.readAllBytes(dir.resolve("golden").resolve(c.path("image").asText()));
            int w = c.path("width").asInt(), h = c.path("height").asInt();
            double side = Math.max(w, h);
            List<PromptTurn> turns = new ArrayList<>();
            int t = 0;
            for (JsonNode turn : c.path("turns")) {
                String where = "case " + c.path("image").asText() + " turn " + t++;
                List<PixelBox> boxes = new ArrayList<>();
                for (JsonNode b : turn.path("user_boxes_px")) {
                    boxes.add(new PixelBox(b.get(0).asDouble(), b.get(1).asDouble(), b.get(2).asDouble(), b.get(3).asDouble()));
                }
                turns.add(PromptTurn.user(turn.path("user").asText(), boxes));
                GenerationResult r = engine.generate(new GenerationRequest(image, turns, GenerationOptions.greedy(), null, null),
                        GenerationListener.NONE);
                assertEquals(turn.path("answer_text").asText(), r.modelText(), where + ": tokens differ");
                JsonNode gr = turn.path("regions");
                assertEquals(gr.size(), r.regions().size(), where + ": region count");
                for (int i = 0; i < gr.size(); i++) {
                    JsonNode g = gr.get(i);
                    for (int k = 0; k < 4; k++) {
                        assertEquals(g.path("box").get(k).asDouble(), r.regions().get(i).normalizedBox()[k], boxTol,
                                where + ": region " + i + " box coordinate " + k);
                    }
                    boolean[] expected = MaskRleCodec.decode(g.path("mask"));
                    boolean[] actual = MaskRleCodec.decode(r.masks().get(i).mask());
                    double iou = MaskRleCodec.iou(expected, actual);
                    assertTrue(iou >= maskIou, where + ": mask IoU " + iou);
                    assertEquals(g.path("mask_score").asDouble(), r.masks().get(i).score(), 1e-3, where + ": mask score");
                    regions++;
                }
                JsonNode gp = turn.path("points");
                assertEquals(gp.size(), r.points().size(), where + ": point count");
                List<GenerationEvents.WordPointEvent> sorted = new ArrayList<>(r.points());
                sorted.sort((a, b) -> Integer.compare(a.wordIndex(), b.wordIndex()));
                for (int i = 0; i < gp.size(); i++) {
                    double ex = Math.min(Math.max(gp.get(i).path("x").asDouble() * side, 0), w);
                    double ey = Math.min(Math.max(gp.get(i).path("y").asDouble() * side, 0), h);
                    assertEquals(ex / side, sorted.get(i).x() / side, pointTol, where + ": point " + i + " x");
                    assertEquals(ey / side, sorted.get(i).y() / side, pointTol, where + ": point " + i + " y");
                    points++;
                }
                turns.add(PromptTurn.assistant(r.modelText(), r.slotBoxes()));
            }
            cases++;
        }
        assertTrue(cases >= 5, "golden cases: " + cases);
        assertTrue(regions > 0 && points > 0, "the golden set must exercise regions and points");
    }

    @Test
    void everyVisionEncoderOutputMatchesTheReference() throws Exception {
        for (JsonNode c : golden.path("cases")) {
            String name = c.path("image").asText();
            ImageFeatures f = engine.features(Files.readAllBytes(dir.resolve("golden").resolve(name)));
            // the first 8 values of each output's first row, in the layout the heads read them
            assertHead(c, "image_embeds_head", f.imageEmbeds(), name);
            assertHead(c, "feature_map_head", f.featureMap(), name);
            if (engine.manifest().hasLocationKeys()) {
                assertHead(c, "box_keys_head", f.boxKeys(), name);
                assertHead(c, "point_keys_head", f.pointKeys(), name);
            }
        }
    }

    private static void assertHead(JsonNode c, String field, float[] actual, String where) {
        JsonNode expected = c.path(field);
        assertEquals(8, expected.size(), where + ": golden " + field + " missing");
        for (int i = 0; i < 8; i++) {
            assertEquals(expected.get(i).asDouble(), actual[i], 1e-3, where + ": " + field + "[" + i + "]");
        }
    }

    @Test
    void proposalsMatchTheReference() throws Exception {
        for (JsonNode c : golden.path("cases")) {
            byte[] image = Files.readAllBytes(dir.resolve("golden").resolve(c.path("image").asText()));
            int w = c.path("width").asInt(), h = c.path("height").asInt();
            List<DenseCaption> dense = engine.denseCaptions(image, 16, null);
            JsonNode gp = c.path("proposals");
            List<float[]> expected = new ArrayList<>();
            for (JsonNode p : gp) {
                float[] b = new float[4];
                for (int k = 0; k < 4; k++) b[k] = (float) p.path("box").get(k).asDouble();
                if (BoxGeometry.toPixels(b, w, h).area() > 0) expected.add(b);
            }
            assertEquals(expected.size(), dense.size(), "proposal count for " + c.path("image").asText());
            for (int i = 0; i < expected.size(); i++) {
                PixelBox e = BoxGeometry.toPixels(expected.get(i), w, h);
                assertEquals(e.x1(), dense.get(i).box().x1(), 1e-3 * Math.max(w, h));
                assertEquals(e.y2(), dense.get(i).box().y2(), 1e-3 * Math.max(w, h));
            }
        }
    }
}

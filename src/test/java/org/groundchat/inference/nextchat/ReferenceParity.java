package org.groundchat.inference.nextchat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.groundchat.inference.EngineOptions;
import org.groundchat.inference.GenerationEvents.GenerationResult;
import org.groundchat.inference.GenerationEvents.MaskEvent;
import org.groundchat.inference.GenerationEvents.RegionEvent;
import org.groundchat.inference.GenerationListener;
import org.groundchat.inference.GenerationOptions;
import org.groundchat.inference.GenerationRequest;
import org.groundchat.inference.MaskRleCodec;
import org.groundchat.inference.PixelBox;
import org.groundchat.inference.PromptTurn;

/**
 * A parity fixture written by {@code models/import/make_fixture.py} (an imported bundle, its images and the
 * plain-PyTorch reference's answers) and the check that NextChatEngine answers exactly as the reference did.
 */
record ReferenceParity(Path dir, JsonNode fixture) {

    static ReferenceParity load(Path dir) throws IOException {
        return new ReferenceParity(dir, new ObjectMapper().readTree(dir.resolve("fixture.json").toFile()));
    }

    Path bundle() {
        return dir.resolve(fixture.get("bundle").asText());
    }

    NextChatEngine open() {
        return NextChatEngine.open(new EngineOptions(bundle(), false, 0, 10_000_000, 10_000_000, 1, 1));
    }

    /** What one fixture's check measured. */
    record Summary(int tokens, int regions, double worstBox, double worstPx, double worstIou) {
        @Override
        public String toString() {
            return String.format("%d tokens equal, %d regions, worst box %.2e (raw) %.2e px, worst mask IoU %.4f",
                    tokens, regions, worstBox, worstPx, worstIou);
        }
    }

    /** Every case's tokens, text, streamed events, boxes and masks equal the reference's (within its tolerances). */
    Summary assertEngineAnswersAsReference(NextChatEngine engine) throws Exception {
        double tolBox = fixture.get("tolerances").get("box").asDouble();
        double minIou = fixture.get("tolerances").get("mask_iou").asDouble();
        double worstBox = 0, worstPx = 0, worstIou = 1;
        int regions = 0, tokens = 0;
        for (JsonNode c : fixture.get("cases")) {
            String what = dir.getFileName() + ": " + c.get("image").asText() + " / " + c.get("user").asText();
            int w = c.get("width").asInt(), h = c.get("height").asInt();
            SquareFrame frame = SquareFrame.of(w, h);
            List<PixelBox> userBoxes = new ArrayList<>();
            for (JsonNode b : c.get("user_boxes")) userBoxes.add(toPixels(b, frame));
            StringBuilder streamed = new StringBuilder();
            List<RegionEvent> seenRegions = new ArrayList<>();
            List<MaskEvent> seenMasks = new ArrayList<>();
            GenerationListener listener = new GenerationListener() {
                @Override public void onTextDelta(String delta) { streamed.append(delta); }
                @Override public void onRegion(RegionEvent r) { seenRegions.add(r); }
                @Override public void onMask(MaskEvent m) { seenMasks.add(m); }
            };
            NextChatEngine.Traced t = engine.trace(request(c.get("image").asText(), c.get("user").asText(),
                    userBoxes), listener);
            GenerationResult r = t.result();

            List<Integer> want = answerTokens(c);
            assertEquals(want, t.tokens(), what + ": tokens");
            tokens += want.size();
            // an answer cut right after <at> keeps a <boxes> slot for its region's box in the model text
            boolean cutAtRegion = want.get(want.size() - 1) == engine.manifest().at();
            assertEquals(c.get("answer_text").asText() + (cutAtRegion ? "<boxes>" : ""), r.modelText(), what);
            assertEquals(c.get("prompt_ids").size(), r.promptTokens(), what + ": prompt length");
            assertEquals(want.size(), r.completionTokens());
            assertEquals(c.get("finish_reason").asText().toUpperCase(), r.finishReason().name());
            assertEquals(r.displayText(), streamed.toString(), what + ": streamed deltas make the display text");
            assertEquals(r.regions(), seenRegions);
            assertEquals(r.masks(), seenMasks);

            JsonNode ref = c.get("regions");
            assertEquals(ref.size(), r.regions().size(), what + ": regions");
            assertEquals(ref.size(), r.masks().size(), what + ": masks");
            for (int i = 0; i < ref.size(); i++) {
                JsonNode rr = ref.get(i);
                RegionEvent re = r.regions().get(i);
                assertEquals(rr.get("token_index").asInt(), re.tokenIndex());
                double[] px = re.box().toArray();
                for (int j = 0; j < 4; j++) {
                    worstBox = Math.max(worstBox, Math.abs(re.normalizedBox()[j] - rr.get("box").get(j).asDouble()));
                    worstPx = Math.max(worstPx, Math.abs(px[j] - rr.get("box_px").get(j).asDouble()));
                }
                MaskEvent m = r.masks().get(i);
                assertEquals(h, m.mask().height());
                assertEquals(w, m.mask().width());
                double iou = MaskRleCodec.iou(MaskRleCodec.decode(rr.get("mask")), MaskRleCodec.decode(m.mask()));
                worstIou = Math.min(worstIou, iou);
                assertEquals(rr.get("mask_score").asDouble(), m.score(), 1e-4);
                assertTrue(r.displayText().contains(re.label()));
                regions++;
            }
        }
        assertTrue(worstBox <= tolBox, "worst raw box difference " + worstBox);
        assertTrue(worstPx <= tolBox, "worst pixel box difference " + worstPx);
        assertTrue(worstIou >= minIou, "worst mask IoU " + worstIou);
        assertTrue(regions > 0);
        return new Summary(tokens, regions, worstBox, worstPx, worstIou);
    }

    static List<Integer> answerTokens(JsonNode c) {
        List<Integer> ids = new ArrayList<>();
        c.get("answer_tokens").forEach(n -> ids.add(n.asInt()));
        return ids;
    }

    GenerationRequest request(String image, String user, List<PixelBox> boxes) throws IOException {
        byte[] img = Files.readAllBytes(dir.resolve(image));
        return new GenerationRequest(img, List.of(PromptTurn.user(user, boxes)), GenerationOptions.greedy(), null,
                null);
    }

    /** A user box as the app stores it (image pixels) from the fixture's normalized square box. */
    static PixelBox toPixels(JsonNode b, SquareFrame f) {
        return new PixelBox(b.get(0).asDouble() * f.side() - f.offsetX(), b.get(1).asDouble() * f.side() - f.offsetY(),
                b.get(2).asDouble() * f.side() - f.offsetX(), b.get(3).asDouble() * f.side() - f.offsetY());
    }
}

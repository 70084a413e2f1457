package org.groundchat.inference.nextchat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.groundchat.inference.CancellationToken;
import org.groundchat.inference.EngineOptions;
import org.groundchat.inference.GenerationEvents.FinishReason;
import org.groundchat.inference.GenerationEvents.GenerationResult;
import org.groundchat.inference.GenerationListener;
import org.groundchat.inference.GenerationOptions;
import org.groundchat.inference.GenerationRequest;
import org.groundchat.inference.ImageDecoder;
import org.groundchat.inference.InferenceException;
import org.groundchat.inference.PixelBox;
import org.groundchat.inference.PromptTurn;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * NextChatEngine on the committed NExT-Chat fixture (models/import/fixtures/nextchat-tiny: a fabricated tiny
 * checkpoint imported as a contract-3 bundle, and the plain-PyTorch reference's answers on 3 images x 3 prompts,
 * one with a user-drawn box). Needs only the fixture and ONNX Runtime, no torch.
 */
class NextChatEngineTest {
    private static final Path FIXTURE = Path.of("models", "import", "fixtures", "nextchat-tiny");
    private static NextChatEngine engine;
    private static JsonNode fixture;

    /**
     * SHA-256 of Pillow's uint8 output (Pillow 9.4, {@code square.resize((n, n), filter)} as an RGB numpy array) of
     * the fixture images' centred squares: the fixture's sizes (56 bicubic, 128 bilinear), the real model's (336,
     * 1024) and two downscales (20 bicubic, 30 bilinear) where the filter is widened.
     */
    private static final Map<String, String> PIL_SHA256 = Map.ofEntries(
            Map.entry("0/56/BICUBIC", "d2ed36b68fa0030004a036b9118ad580ffa008226a6f38401ed566812f822783"),
            Map.entry("0/128/BILINEAR", "34b16b906cb893b5fdfc4c102559ea388daa3901b10c113b03c6824bc882203f"),
            Map.entry("0/336/BICUBIC", "098a06c812a901193cb7d96a83da66367e996a4ceda12f510bb255b933a05841"),
            Map.entry("0/1024/BILINEAR", "e692217f1aa01e270c0d53899c31e828e1cbd21481596397b4b2d8019b4abb88"),
            Map.entry("0/20/BICUBIC", "e4973775939d6a5092c245515caa7d33a90b32b7aee6ee003185711e68c73137"),
            Map.entry("0/30/BILINEAR", "eb1895ffe452321add03df3e083f66cd366dad65a237e865a57ca4f38ff5730b"),
            Map.entry("1/56/BICUBIC", "2a7658b441410e7232344e07cb930a7c9c1165f511c4ae4478481eff622d4574"),
            Map.entry("1/128/BILINEAR", "0d1c93567b00cf3326f62ddc5219ca13890d9fa8d1a7f66e7004efeb60276ce1"),
            Map.entry("1/336/BICUBIC", "0295fc1c7fba3b0c010ced88c3068a739339385653dc27249b19bd4e62d25db6"),
            Map.entry("1/1024/BILINEAR", "b9ed6ded5fd9ee9c5bb55762b5d8db89df47b00ff8a2710ddc5bd470bc464c2e"),
            Map.entry("1/20/BICUBIC", "e0850314055a469e20b17164560287c6617fb287a7e70bdd3634a5fc4ac8025c"),
            Map.entry("1/30/BILINEAR", "8913dfb98508b9bac95f9338cf41a2372e84fef9343e43d2184f39ed3fc579af"),
            Map.entry("2/56/BICUBIC", "5c2b051c5e54eb6868fec8cb9630c75b39ea57521cf90e8d6bd134365bb83fd6"),
            Map.entry("2/128/BILINEAR", "6c6c174bd93379ebaa3a125548f0060b2668c314a77e570015413fd5a1dd5861"),
            Map.entry("2/336/BICUBIC", "e01b193ce8b0ad1798edd4ff1a4581be0c5b47264adc78683cf1e2fe2d777ca8"),
            Map.entry("2/1024/BILINEAR", "56ce79248223cf97b1a601d6f7b0ab279d90c184c6c76b6618d93bf092fd51be"),
            Map.entry("2/20/BICUBIC", "2b0a95d1cae7629661027bd64702f8e40ce903c578ec3ae74e698cff6b52c584"),
            Map.entry("2/30/BILINEAR", "f1fee96ad0f424ed4420603f5095be9b85253e8de30ec72177f0f057e1d3946b"));

    @BeforeAll
    static void open() throws Exception {
        fixture = new ObjectMapper().readTree(FIXTURE.resolve("fixture.json").toFile());
        Path bundle = FIXTURE.resolve(fixture.get("bundle").asText());
        engine = NextChatEngine.open(new EngineOptions(bundle, false, 0, 10_000_000, 10_000_000, 1, 1));
    }

    @AfterAll
    static void close() {
        if (engine != null) engine.close();
    }

    @Test
    void pillowResizeIsExactOnUint8() throws Exception {
        for (int i = 0; i < 3; i++) {
            NextChatEngine.Square sq = square("image" + i + ".png");
            for (Map.Entry<String, String> e : PIL_SHA256.entrySet()) {
                String[] key = e.getKey().split("/");
                if (Integer.parseInt(key[0]) != i) continue;
                var r = new NextChatPixels.Recipe(Integer.parseInt(key[1]), PilResize.Filter.valueOf(key[2]), 1f,
                        null, null);
                int[] px = NextChatPixels.resized(sq.rgb(), sq.frame().side(), r);
                byte[] bytes = new byte[px.length];
                for (int j = 0; j < px.length; j++) bytes[j] = (byte) px[j];
                String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
                assertEquals(e.getValue(), sha, "Pillow's resize of image" + i + " to " + key[1] + " " + key[2]);
            }
        }
    }

    @Test
    void pixelTensorsMatchTheReference() throws Exception {
        double worstClip = 0, worstSam = 0;
        for (JsonNode c : fixture.get("cases")) {
            NextChatEngine.Square sq = square(c.get("image").asText());
            float[] clip = sq.tensor(engine.manifest().image());
            float[] sam = sq.tensor(engine.manifest().maskImage());
            // same uint8 pixels and the same float32 arithmetic as numpy: the head is bit-equal
            assertHead(c.get("pixel_values_head"), clip, 0.0);
            assertHead(c.get("mask_pixel_values_head"), sam, 0.0);
            worstClip = Math.max(worstClip, Math.abs(c.get("pixel_values_sum").asDouble() - sum(clip)));
            worstSam = Math.max(worstSam, Math.abs(c.get("mask_pixel_values_sum").asDouble() - sum(sam)));
        }
        // the same float32 values summed in double in the same order: measured equal, a margin for summation order
        System.out.printf("NextChatEngine pixels: heads bit-equal, worst sum difference %.2e (CLIP), %.2e (SAM)%n",
                worstClip, worstSam);
        assertTrue(worstClip < 1e-6 && worstSam < 1e-6, "pixel sums differ: " + worstClip + ", " + worstSam);
    }

    @Test
    void answersEqualTheReference() throws Exception {
        ReferenceParity.Summary s = new ReferenceParity(FIXTURE, fixture).assertEngineAnswersAsReference(engine);
        System.out.println("NextChatEngine parity: " + s);
    }

    @Test
    void imageEmbeddingsMatchTheReference() throws Exception {
        JsonNode c = fixture.get("cases").get(0);
        NextChatEngine.Square sq = square(c.get("image").asText());
        int s = engine.manifest().image().size();
        NextChatSessions ss = engine.sessions();
        float[] emb = ss.run(ss.vision, Map.of("pixel_values", ss.floats(sq.tensor(engine.manifest().image()),
                1, 3, s, s)))[0];
        assertHead(c.get("image_embeds_head"), emb, fixture.get("tolerances").get("embeds").asDouble());
    }

    @Test
    void laterTurnsFeedTheAnswerBack() throws Exception {
        JsonNode c = fixture.get("cases").get(0);
        byte[] img = Files.readAllBytes(FIXTURE.resolve(c.get("image").asText()));
        GenerationOptions few = new GenerationOptions(0, 1, 0, 16, 0, true, false);
        List<PromptTurn> one = List.of(PromptTurn.user(c.get("user").asText(), List.of()));
        GenerationResult first = engine.generate(new GenerationRequest(img, one, few, null, null), null);
        assertTrue(first.regions().size() > 0, "the first 16 tokens of case 0 hold a region");
        List<PromptTurn> turns = List.of(PromptTurn.user(c.get("user").asText(), List.of()),
                PromptTurn.assistant(first.modelText(), first.slotBoxes()),
                PromptTurn.user("and the cat ?", List.of()));
        GenerationResult second = engine.generate(new GenerationRequest(img, turns, few, null, null), null);
        // the first answer's ids come back in the prompt (model text re-encodes), with "</s>USER: ..." after it
        int firstPrompt = c.get("prompt_ids").size();
        assertTrue(second.promptTokens() > firstPrompt + first.completionTokens(), "prompt " + second.promptTokens());
        assertTrue(second.completionTokens() <= 16);
        // a <boxes> slot without a box is refused
        List<PromptTurn> bad = List.of(PromptTurn.user("what is <boxes> ?", List.of()));
        assertThrows(InferenceException.class, () -> engine.generate(new GenerationRequest(img, bad, few, null, null),
                null));
    }

    @Test
    void longConversationsDropTheOldestTurns() throws Exception {
        JsonNode c = fixture.get("cases").get(0);
        byte[] img = Files.readAllBytes(FIXTURE.resolve(c.get("image").asText()));
        GenerationOptions few = new GenerationOptions(0, 1, 0, 8, 0, true, false);
        // 12 earlier exchanges (about 40 tokens each) cannot all fit the fixture model's 256-token context
        List<PromptTurn> turns = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            turns.add(PromptTurn.user("question number " + i + " about the dog and the cat in the picture ?", List.of()));
            turns.add(PromptTurn.assistant("answer number " + i + " : the dog is left of the cat and both sit .",
                    List.of()));
        }
        turns.add(PromptTurn.user(c.get("user").asText(), List.of()));
        GenerationResult all = engine.generate(new GenerationRequest(img, turns, few, null, null), null);
        assertTrue(all.promptTokens() + 8 <= 256, "prompt " + all.promptTokens());
        // the kept turns are the latest ones: the same answer as asking with only those turns
        int kept = -1;
        for (int first = 2; first < turns.size(); first += 2) {
            GenerationResult tail = engine.generate(new GenerationRequest(img, turns.subList(first, turns.size()), few,
                    null, null), null);
            if (tail.promptTokens() == all.promptTokens()) {
                kept = first;
                assertEquals(tail.modelText(), all.modelText());
                break;
            }
        }
        assertTrue(kept > 0, "some of the oldest turns are dropped, the newest kept");
        // one question that alone leaves no room for the answer is refused, not cut
        String huge = "dog ".repeat(400) + "?";
        InferenceException e = assertThrows(InferenceException.class, () -> engine.generate(new GenerationRequest(img,
                List.of(PromptTurn.user(huge, List.of())), few, null, null), null));
        assertTrue(e.getMessage().contains("too long"), e.getMessage());
    }

    @Test
    void cancellationStopsTheAnswer() throws Exception {
        JsonNode c = fixture.get("cases").get(0);
        CancellationToken cancel = new CancellationToken();
        GenerationListener listener = new GenerationListener() {
            @Override public void onTextDelta(String delta) { cancel.cancel(); }
        };
        GenerationResult r = engine.generate(request(c.get("image").asText(), c.get("user").asText(), List.of(),
                cancel), listener);
        assertEquals(FinishReason.CANCELLED, r.finishReason());
        assertTrue(r.completionTokens() < c.get("answer_tokens").size());
    }

    @Test
    void refusesOtherContracts() {
        assertTrue(NextChatEngine.accepts(FIXTURE.resolve("bundle")));
        assertTrue(!NextChatEngine.accepts(Path.of("models", "default")));
    }

    private static GenerationRequest request(String image, String user, List<PixelBox> boxes,
                                             CancellationToken cancel) throws Exception {
        byte[] img = Files.readAllBytes(FIXTURE.resolve(image));
        return new GenerationRequest(img, List.of(PromptTurn.user(user, boxes)), GenerationOptions.greedy(), null,
                cancel);
    }

    private static NextChatEngine.Square square(String image) throws Exception {
        byte[] bytes = Files.readAllBytes(FIXTURE.resolve(image));
        return NextChatEngine.Square.of(ImageDecoder.decode(bytes, 10_000_000));
    }

    private static void assertHead(JsonNode head, float[] values, double tol) {
        for (int i = 0; i < head.size(); i++) assertEquals(head.get(i).asDouble(), values[i], tol, "value " + i);
    }

    private static double sum(float[] v) {
        double s = 0;
        for (float x : v) s += x;
        return s;
    }
}

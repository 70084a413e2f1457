package org.groundchat.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.websockets.next.BasicWebSocketConnector;
import io.restassured.http.ContentType;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import javax.imageio.ImageIO;
import org.groundchat.inference.PixelBox;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The service end to end: real PostgreSQL (embedded), real bundled model, REST and WebSocket. */
@QuarkusTest
class ChatServiceTest {
    static final ObjectMapper JSON = new ObjectMapper();
    /** A sparse golden scene where the shipped model localizes reliably (its hard numbers: models/default/EVAL.md). */
    static final int SPARSE = 6;
    static JsonNode golden;

    @TestHTTPResource("/")
    URI base;
    @Inject
    Instance<BasicWebSocketConnector> connector; // one connector per connection: a connector holds one handler

    @BeforeAll
    static void readGolden() throws Exception {
        golden = JSON.readTree(Path.of("models/default/golden/golden.json").toFile());
    }

    static byte[] goldenImage(int k) throws Exception {
        return Files.readAllBytes(Path.of("models/default/golden").resolve(golden.path("cases").get(k).path("image").asText()));
    }

    static String upload(byte[] bytes) {
        return given().multiPart("file", "scene.png", bytes, "image/png").post("/api/images")
                .then().statusCode(201).extract().path("id");
    }

    static String conversation() {
        return given().contentType(ContentType.JSON).body("{\"title\":\"test\"}").post("/api/conversations")
                .then().statusCode(201).extract().path("id");
    }

    static PixelBox truth(int k, int object) {
        JsonNode b = golden.path("cases").get(k).path("truth").get(object).path("box_px");
        return new PixelBox(b.get(0).asDouble(), b.get(1).asDouble(), b.get(2).asDouble(), b.get(3).asDouble());
    }

    static String turn(String text, String imageId, String regions) {
        return "{\"type\":\"user_turn\",\"text\":\"" + text + "\""
                + (imageId == null ? "" : ",\"imageId\":\"" + imageId + "\"")
                + (regions == null ? "" : ",\"regions\":" + regions) + "}";
    }

    static int messageCount(String conversationId) {
        return given().get("/api/conversations/" + conversationId).then().log().ifValidationFails().statusCode(200).extract().path("messages.size()");
    }

    @Test
    void aGroundedTurnStreamsNumberedEventsAndIsStored() throws Exception {
        String image = upload(goldenImage(SPARSE));
        assertEquals(image, upload(goldenImage(SPARSE)), "the same bytes are stored once");
        String conv = conversation();
        String question = golden.path("cases").get(SPARSE).path("turns").get(0).path("user").asText();
        try (WsClient ws = new WsClient(connector, base, conv)) {
            ws.send(turn(question, image, null));
            List<JsonNode> events = ws.untilType("done");
            for (int i = 0; i < events.size(); i++) assertEquals(i + 1, events.get(i).path("seq").asInt(), "seq of " + events.get(i));
            List<String> types = events.stream().map(e -> e.path("type").asText()).toList();
            assertEquals("accepted", types.get(0));
            assertTrue(types.contains("started") && types.contains("text"), types.toString());
            JsonNode done = events.get(events.size() - 1);
            JsonNode message = done.path("message");
            assertEquals("complete", message.path("status").asText());
            StringBuilder streamed = new StringBuilder();
            events.stream().filter(e -> e.path("type").asText().equals("text")).forEach(e -> streamed.append(e.path("delta").asText()));
            assertEquals(message.path("text").asText(), streamed.toString());
            JsonNode region = events.stream().filter(e -> e.path("type").asText().equals("region")).findFirst()
                    .orElseThrow(() -> new AssertionError("no region in " + types)).path("region");
            JsonNode box = region.path("box");
            PixelBox found = new PixelBox(box.get(0).asDouble(), box.get(1).asDouble(), box.get(2).asDouble(), box.get(3).asDouble());
            assertTrue(found.iou(truth(SPARSE, 0)) >= 0.5, "IoU with the truth: " + found.iou(truth(SPARSE, 0)) + " for " + found);
            assertTrue(done.path("timings").path("totalMs").asDouble() > 0);
        }
        JsonNode stored = JSON.readTree(given().get("/api/conversations/" + conv).then().statusCode(200).extract().asString());
        JsonNode answer = stored.path("messages").get(1);
        assertEquals("assistant", answer.path("role").asText());
        assertEquals("complete", answer.path("status").asText());
        assertFalse(answer.path("regions").isEmpty());
        assertEquals(1, answer.path("regions").get(0).path("number").asInt());
        assertTrue(answer.path("regions").get(0).path("mask").path("counts").isArray());
        given().get("/api/conversations/" + conv + "/export/coco").then().statusCode(200)
                .body("annotations.size()", equalTo(answer.path("regions").size()));
    }

    @Test
    void aDrawnRegionGetsANumberAndACaption() throws Exception {
        String image = upload(goldenImage(1));
        String conv = conversation();
        PixelBox t = truth(1, 0);
        try (WsClient ws = new WsClient(connector, base, conv)) {
            ws.send(turn("what is this #1 ?", image, "[{\"box\":[" + t.x1() + "," + t.y1() + "," + t.x2() + "," + t.y2() + "]}]"));
            List<JsonNode> events = ws.untilType("done");
            JsonNode user = events.get(0).path("userMessage");
            assertEquals("what is this [1] ?", user.path("text").asText());
            assertEquals("user", user.path("regions").get(0).path("source").asText());
            assertFalse(events.get(events.size() - 1).path("message").path("text").asText().isBlank());
            // a later turn refers back to the drawn region by its number
            ws.send(turn("what color is this [1] ?", null, null));
            JsonNode done = ws.untilType("done").stream().reduce((a, b) -> b).orElseThrow();
            assertEquals("complete", done.path("message").path("status").asText());
        }
        assertEquals(4, messageCount(conv));
    }

    @Test
    void cancellingStopsTheAnswerAndStoresItAsCancelled() throws Exception {
        // the 8-object scene's description is ~80 tokens with a mask per object: far longer than a cancel frame's trip
        String image = upload(goldenImage(1));
        String conv = conversation();
        try (WsClient ws = new WsClient(connector, base, conv)) {
            ws.send(turn("describe the image .", image, null));
            ws.untilType("text");
            ws.send("{\"type\":\"cancel\"}");
            List<JsonNode> rest = ws.until(e -> Set.of("cancelled", "done").contains(e.path("type").asText()),
                    java.time.Duration.ofSeconds(60));
            JsonNode end = rest.get(rest.size() - 1);
            assertEquals("cancelled", end.path("type").asText(), "the answer must stop, not run to its end");
            assertEquals("cancelled", end.path("message").path("status").asText());
        }
        String status = given().get("/api/conversations/" + conv).then().extract().path("messages[1].status");
        assertEquals("cancelled", status);
    }

    /** Keeps the single answer worker busy: long answers in other conversations, each accepted before this returns. */
    private List<WsClient> occupyWorker(int answers) throws Exception {
        String image = upload(goldenImage(1));
        List<WsClient> busy = new java.util.ArrayList<>();
        for (int i = 0; i < answers; i++) {
            WsClient ws = new WsClient(connector, base, conversation());
            busy.add(ws);
            ws.send(turn("describe the image .", image, null));
            ws.untilType("accepted");
        }
        return busy;
    }

    @Test
    void aDeleteRacingATurnGivesEachAClearAnswerAndNeverBreaksTheSocket() throws Exception {
        String image = upload(goldenImage(SPARSE));
        var pool = java.util.concurrent.Executors.newFixedThreadPool(2);
        try {
            for (int i = 0; i < 30; i++) {
                String conv = conversation();
                try (WsClient ws = new WsClient(connector, base, conv)) {
                    var turn = pool.submit(() -> ws.send(turn("where is the red circle ?", image, null)));
                    var delete = pool.submit(() -> given().delete("/api/conversations/" + conv).then().extract().statusCode());
                    turn.get();
                    int status = delete.get();
                    assertTrue(status == 204 || status == 409, "DELETE answered " + status);
                    List<JsonNode> heard = ws.until(e -> Set.of("accepted", "error").contains(e.path("type").asText()),
                            java.time.Duration.ofSeconds(30));
                    JsonNode first = heard.get(heard.size() - 1);
                    if (first.path("type").asText().equals("error")) {
                        // the delete won (or was under way): the turn hears why, and nothing else is wrong
                        assertTrue(Set.of("unknown_conversation", "turn_in_progress").contains(first.path("code").asText()),
                                first.toString());
                        assertEquals(204, status);
                    } else {
                        // the turn won: DELETE got 409 while it ran (or 204 once it had finished); the answer ends whole
                        List<JsonNode> rest = ws.until(e -> Set.of("done", "cancelled", "error").contains(e.path("type").asText()),
                                java.time.Duration.ofSeconds(60));
                        assertEquals("done", rest.get(rest.size() - 1).path("type").asText(), rest.toString());
                    }
                    // the socket is still there and answers
                    ws.send("{\"type\":\"bogus\"}");
                    List<JsonNode> replies = ws.untilType("error");
                    JsonNode reply = replies.get(replies.size() - 1);
                    assertTrue(Set.of("unknown_type", "unknown_conversation").contains(reply.path("code").asText()), reply.toString());
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aStoppedRegenerateKeepsTheAnswerItWasToReplace() throws Exception {
        String image = upload(goldenImage(SPARSE));
        String conv = conversation();
        String original;
        try (WsClient ws = new WsClient(connector, base, conv)) {
            ws.send(turn("describe the image .", image, null));
            List<JsonNode> events = ws.untilType("done");
            original = events.get(events.size() - 1).path("message").path("text").asText();
        }
        int before = messageCount(conv);
        List<WsClient> busy = occupyWorker(3);
        try (WsClient ws = new WsClient(connector, base, conv)) {
            ws.send("{\"type\":\"regenerate\"}");
            ws.untilType("accepted"); // waiting behind the busy answers: the cancel is certain to come first
            ws.send("{\"type\":\"cancel\"}");
            List<JsonNode> rest = ws.until(e -> Set.of("cancelled", "done").contains(e.path("type").asText()),
                    java.time.Duration.ofSeconds(60));
            JsonNode end = rest.get(rest.size() - 1);
            assertEquals("cancelled", end.path("type").asText());
            assertEquals("complete", end.path("message").path("status").asText(), "the event carries the kept answer");
            assertEquals(original, end.path("message").path("text").asText());
        } finally {
            for (WsClient b : busy) b.close();
        }
        assertEquals(before, messageCount(conv));
        given().get("/api/conversations/" + conv).then().statusCode(200)
                .body("messages[" + (before - 1) + "].status", equalTo("complete"))
                .body("messages[" + (before - 1) + "].text", equalTo(original));
    }

    @Test
    void framesTheServerCannotUseGetAnErrorEventAndTheConnectionStays() throws Exception {
        String image = upload(goldenImage(1));
        String conv = conversation();
        try (WsClient ws = new WsClient(connector, base, conv)) {
            ws.send(turn("where is " + "x".repeat(100_000), image, null));
            assertEquals("frame_too_large", ws.untilType("error").get(0).path("code").asText());
            ws.send(turn("where is the red\\u0000 star ?", image, null));
            assertEquals("invalid_text", ws.untilType("error").get(0).path("code").asText());
            ws.sendBinary(new byte[] {1, 2, 3});
            assertEquals("binary_not_supported", ws.untilType("error").get(0).path("code").asText());
            ws.send("{\"type\":\"user_turn\",\"text\":\"hi\",\"regions\":\"not a list\"}");
            JsonNode bad = ws.untilType("error").get(0);
            assertEquals("invalid_frame", bad.path("code").asText());
            String reason = bad.path("reason").asText();
            assertFalse(reason.contains("org.") || reason.contains("java.") || reason.contains("TurnRequestFrame"), reason);
            assertTrue(ws.isOpen(), "the connection stays open");
            assertEquals(0, messageCount(conv), "nothing stored");
        }
    }

    @Test
    void aTurnSentOnDoneIsAcceptedEveryTime() throws Exception {
        // the conversation must be free before `done` leaves: a client answering `done` at once never hears
        // turn_in_progress (it did, now and then, when the release came after the event)
        String image = upload(goldenImage(1));
        String conv = conversation();
        try (WsClient ws = new WsClient(connector, base, conv)) {
            for (int i = 0; i < 40; i++) { // the race is rare on an idle machine: many tries make it show
                ws.send(turn("is there a purple diamond ?", i == 0 ? image : null, null));
                JsonNode end = ws.until(e -> Set.of("error", "done").contains(e.path("type").asText()),
                        java.time.Duration.ofSeconds(60)).stream().reduce((x, y) -> y).orElseThrow();
                assertEquals("done", end.path("type").asText(), "turn " + i + ": " + end);
            }
        }
        assertEquals(80, messageCount(conv));
    }

    @Test
    void aRegionOfAnotherImageIsRefusedBeforeAnythingIsStored() throws Exception {
        String first = upload(goldenImage(1)), second = upload(goldenImage(2));
        String conv = conversation();
        try (WsClient ws = new WsClient(connector, base, conv)) {
            ws.send(turn("what is this #1 ?", first, "[{\"box\":[10,10,60,60]}]"));
            ws.untilType("done");
            int stored = messageCount(conv);
            ws.send(turn("what is [1] ?", second, null));
            JsonNode e = ws.untilType("error").get(0);
            assertEquals("region_on_other_image", e.path("code").asText());
            assertTrue(e.path("reason").asText().contains("[1]"), e.path("reason").asText());
            assertEquals(stored, messageCount(conv), "nothing stored");
            ws.send(turn("what is [1] ?", first, null)); // the same reference on its own image is answered
            assertEquals("done", ws.until(x -> Set.of("error", "done").contains(x.path("type").asText()),
                    java.time.Duration.ofSeconds(60)).stream().reduce((x, y) -> y).orElseThrow().path("type").asText());
        }
    }

    @Test
    void badFramesGetReadableErrorsAndStoreNothing() throws Exception {
        String image = upload(goldenImage(1));
        String conv = conversation();
        try (WsClient ws = new WsClient(connector, base, conv)) {
            String[][] cases = {
                    {"this is not json", "invalid_frame"},
                    {"[1,2]", "invalid_frame"},
                    {"{\"type\":\"dance\"}", "unknown_type"},
                    {turn("", image, null), "empty_text"},
                    {turn("x".repeat(2001), image, null), "text_too_long"},
                    // within the character limit, but more words than the model's context holds with the image
                    {turn("where is the " + "small red star and ".repeat(80) + "?", image, null), "text_too_long"},
                    {turn("what is this #1 ?", image, "[{\"box\":[1,2,3]}]"), "invalid_region"},
                    {turn("what is this #1 ?", image, "[{\"box\":[10,10,5000,20]}]"), "invalid_region"},
                    {turn("what is this #1 ?", image, "[{\"box\":[30,30,10,10]}]"), "invalid_region"},
                    {turn("what is this #2 ?", image, "[{\"box\":[1,1,20,20]}]"), "invalid_region_reference"},
                    {turn("what is [42] ?", image, null), "unknown_region"},
                    {turn("hello", "00000000-0000-0000-0000-000000000000", null), "unknown_image"},
                    {turn("where is the red star ?", null, null), "image_required"},
                    {"{\"type\":\"cancel\"}", "nothing_to_cancel"},
            };
            for (String[] c : cases) {
                ws.send(c[0]);
                JsonNode e = ws.untilType("error").get(0);
                assertEquals(c[1], e.path("code").asText(), "frame " + c[0].substring(0, Math.min(60, c[0].length())));
                assertFalse(e.path("reason").asText().isBlank());
            }
            assertTrue(ws.isOpen(), "the connection stays open after bad frames");
            assertEquals(0, messageCount(conv), "nothing stored");
            // a second turn while one is running is refused
            ws.send(turn("describe the image .", image, null));
            ws.send(turn("describe the image .", image, null));
            List<JsonNode> events = ws.until(e -> Set.of("error", "done").contains(e.path("type").asText()),
                    java.time.Duration.ofSeconds(60));
            JsonNode first = events.get(events.size() - 1);
            if (first.path("type").asText().equals("error")) {
                assertEquals("turn_in_progress", first.path("code").asText());
                ws.untilType("done");
            }
            assertEquals(2, messageCount(conv));
        }
    }

    @Test
    void restErrorsAreClear() throws Exception {
        given().multiPart("file", "x.png", "not an image".getBytes(), "image/png").post("/api/images")
                .then().statusCode(415).body("error", equalTo("not_an_image"));
        byte[] png = goldenImage(0);
        byte[] truncated = java.util.Arrays.copyOf(png, png.length / 2);
        given().multiPart("file", "t.png", truncated, "image/png").post("/api/images")
                .then().statusCode(415).body("error", equalTo("not_an_image"));
        BufferedImage huge = new BufferedImage(2100, 2000, BufferedImage.TYPE_INT_RGB);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(huge, "png", out);
        given().multiPart("file", "h.png", out.toByteArray(), "image/png").post("/api/images")
                .then().statusCode(413).body("error", equalTo("image_too_large"));
        given().get("/api/conversations/not-a-uuid").then().statusCode(404).body("error", equalTo("unknown_conversation"));
        given().get("/api/conversations/00000000-0000-0000-0000-000000000000").then().statusCode(404);
        given().get("/api/images/00000000-0000-0000-0000-000000000000").then().statusCode(404).body("error", equalTo("unknown_image"));
        String conv = conversation();
        given().contentType(ContentType.JSON).body("{\"title\":\"  \"}").patch("/api/conversations/" + conv)
                .then().statusCode(400).body("error", equalTo("invalid_title"));
        given().contentType(ContentType.JSON).body("{\"title\":").post("/api/conversations").then().statusCode(400);
        given().get("/api/conversations?size=0").then().statusCode(400).body("error", equalTo("invalid_size"));
        given().contentType(ContentType.JSON).body("{\"title\":\"renamed\"}").patch("/api/conversations/" + conv)
                .then().statusCode(200).body("title", equalTo("renamed"));
        given().delete("/api/conversations/" + conv).then().statusCode(204);
        given().get("/api/conversations/" + conv).then().statusCode(404);
        given().get("/q/health/ready").then().statusCode(200);
    }

    @Test
    void concurrentConversationsDoNotMixTheirEvents() throws Exception {
        String image = upload(goldenImage(1));
        String a = conversation(), b = conversation();
        try (WsClient wa = new WsClient(connector, base, a); WsClient wb = new WsClient(connector, base, b)) {
            wa.send(turn("describe the image .", image, null));
            wb.send(turn("find all stars .", image, null));
            List<JsonNode> ea = wa.untilType("done"), eb = wb.untilType("done");
            Set<String> turnsA = new HashSet<>(), turnsB = new HashSet<>();
            ea.forEach(e -> turnsA.add(e.path("turnId").asText()));
            eb.forEach(e -> turnsB.add(e.path("turnId").asText()));
            assertEquals(1, turnsA.size());
            assertEquals(1, turnsB.size());
            assertFalse(turnsA.equals(turnsB));
            List<String> textA = new ArrayList<>();
            ea.stream().filter(e -> e.path("type").asText().equals("text")).forEach(e -> textA.add(e.path("delta").asText()));
            assertEquals(ea.get(ea.size() - 1).path("message").path("text").asText(), String.join("", textA));
        }
    }
}

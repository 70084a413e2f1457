package org.groundchat.api;

import static io.restassured.RestAssured.given;
import static org.groundchat.api.ChatServiceTest.conversation;
import static org.groundchat.api.ChatServiceTest.goldenImage;
import static org.groundchat.api.ChatServiceTest.turn;
import static org.groundchat.api.ChatServiceTest.upload;
import static org.groundchat.security.SignedInByDefault.anonymous;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.websockets.next.BasicWebSocketConnector;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** /q/metrics counts the answers the service runs, read as a scraper reads it: anonymously, in Prometheus text. */
@QuarkusTest
class MetricsTest {
    private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\\{[^}]*})?) (\\S+)$",
            Pattern.MULTILINE);

    @TestHTTPResource("/")
    URI base;
    @Inject
    Instance<BasicWebSocketConnector> connector;

    @BeforeAll
    static void golden() throws Exception {
        ChatServiceTest.readGolden();
    }

    /** Every sample of one scrape, by its name with labels as printed (e.g. {@code x_total{outcome="complete"}}). */
    static Map<String, Double> scrape() {
        String text = anonymous().get("/q/metrics").then().statusCode(200).extract().asString();
        Map<String, Double> samples = new HashMap<>();
        Matcher m = SAMPLE.matcher(text);
        while (m.find()) samples.put(m.group(1), Double.parseDouble(m.group(2)));
        return samples;
    }

    /** A sample that must be there: a missing one fails instead of reading as 0. */
    static double value(Map<String, Double> samples, String key) {
        Double v = samples.get(key);
        if (v == null) {
            throw new AssertionError("no sample " + key + " in " + samples.keySet().stream()
                    .filter(k -> k.startsWith("groundchat_") && !k.contains("_bucket")).sorted().toList());
        }
        return v;
    }

    /** How much a sample grew between two scrapes. */
    static double grew(Map<String, Double> before, Map<String, Double> after, String key) {
        return value(after, key) - value(before, key);
    }

    static String ended(String outcome) {
        return "groundchat_answers_ended_total{outcome=\"" + outcome + "\"}";
    }

    static String latencyCount(String outcome) {
        return "groundchat_answer_latency_seconds_count{outcome=\"" + outcome + "\"}";
    }

    /** A golden scene with one pixel changed: bytes no earlier test uploaded, so the answer has to encode them. */
    static byte[] freshImage(int k) throws Exception {
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(goldenImage(k)));
        img.setRGB(0, 0, (int) (System.nanoTime() & 0xffffff));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(img, "png", out);
        return out.toByteArray();
    }

    @Test
    void oneCompletedAnswerIsCountedOnceWithItsLatencyTokensAndImageEncode() throws Exception {
        String image = upload(freshImage(ChatServiceTest.SPARSE));
        String conv = conversation();
        Map<String, Double> before = scrape();
        try (WsClient ws = new WsClient(connector, base, conv)) {
            ws.send(turn("describe the image .", image, null));
            JsonNode done = ws.untilType("done").stream().reduce((a, b) -> b).orElseThrow();
            assertEquals("complete", done.path("message").path("status").asText());
            Map<String, Double> after = scrape();
            assertTrue(value(after, "groundchat_websocket_connections") >= 1, "this socket is open");
            int tokens = done.path("usage").path("completionTokens").asInt();
            assertTrue(tokens > 0, done.toString());

            assertEquals(1, grew(before, after, ended("complete")), "completed answers");
            assertEquals(0, grew(before, after, ended("cancelled")), "cancelled answers");
            assertEquals(0, grew(before, after, ended("failed")), "failed answers");
            assertEquals(1, grew(before, after, "groundchat_answers_started_total"));
            assertEquals(1, grew(before, after, latencyCount("complete")), "latency samples");
            assertTrue(grew(before, after, "groundchat_answer_latency_seconds_sum{outcome=\"complete\"}") > 0);
            // a percentile histogram, so that replicas aggregate: the +Inf bucket holds every sample
            assertEquals(value(after, latencyCount("complete")),
                    value(after, "groundchat_answer_latency_seconds_bucket{outcome=\"complete\",le=\"+Inf\"}"));
            assertEquals(1, grew(before, after, "groundchat_answer_time_to_first_token_seconds_count"),
                    "time-to-first-token samples");
            assertEquals(tokens, grew(before, after, "groundchat_tokens_generated_total"));
            assertEquals(1, grew(before, after, "groundchat_image_encodes_total"),
                    "the new image is encoded once");
            assertEquals(0, value(after, "groundchat_answers_running"));
            assertEquals(0, value(after, "groundchat_answers_queued"));

            // a follow-up on the same image finds its features cached
            ws.send(turn("what color is it ?", null, null));
            ws.untilType("done");
            Map<String, Double> followUp = scrape();
            assertEquals(0, grew(after, followUp, "groundchat_image_encodes_total"));
            assertTrue(grew(after, followUp, "groundchat_feature_cache_hits_total") >= 1);
        }
        // requests by id are counted under their path template, never the id
        given().get("/api/conversations/" + conv).then().statusCode(200);
        given().get("/api/images/" + image).then().statusCode(200);
        String text = anonymous().get("/q/metrics").then().extract().asString();
        assertFalse(text.contains(conv), "no conversation id in the metrics");
        assertFalse(text.contains(image), "no image id in the metrics");
        assertFalse(text.contains("describe the image"), "no message text in the metrics");
    }

    /** Long answers ahead of the one that waits. */
    private static final int BUSY = 8;

    @Test
    void aCancelledAnswerIsCountedAsCancelledAndAWaitingTurnAsQueued() throws Exception {
        // long answers keep the single worker busy, so the last turn waits in the queue when it is cancelled: all
        // sockets are opened first and the turns sent back to back (an answer takes ~0.1 s; opening a socket is slower)
        String image = upload(goldenImage(1));
        Map<String, Double> before = scrape();
        List<WsClient> busy = new ArrayList<>();
        try {
            for (int i = 0; i < BUSY; i++) busy.add(new WsClient(connector, base, conversation()));
            try (WsClient ws = new WsClient(connector, base, conversation())) {
                for (WsClient b : busy) b.send(turn("describe the image .", image, null));
                ws.send(turn("describe the image .", image, null));
                ws.untilType("accepted");
                Map<String, Double> waiting = scrape();
                assertTrue(value(waiting, "groundchat_answers_queued") >= 1, "the waiting turns are counted as queued");
                ws.send("{\"type\":\"cancel\"}");
                List<JsonNode> rest = ws.until(e -> Set.of("cancelled", "done").contains(e.path("type").asText()),
                        Duration.ofSeconds(60));
                assertEquals("cancelled", rest.get(rest.size() - 1).path("type").asText());
            }
            for (WsClient ws : busy) ws.untilType("done");
        } finally {
            for (WsClient ws : busy) ws.close();
        }
        Map<String, Double> after = scrape();
        assertEquals(1, grew(before, after, ended("cancelled")), "cancelled answers");
        assertEquals(BUSY, grew(before, after, ended("complete")), "completed answers");
        assertEquals(1, grew(before, after, latencyCount("cancelled")));
        assertEquals(BUSY + 1, grew(before, after, "groundchat_answers_started_total"));
        assertTrue(grew(before, after, "groundchat_feature_cache_hits_total") >= 1,
                "the second answer on one image reuses its features");
        assertEquals(0, value(after, "groundchat_answers_queued"));
    }
}

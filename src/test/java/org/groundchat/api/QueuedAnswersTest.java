package org.groundchat.api;

import static org.groundchat.api.AccessControlTest.newUserToken;
import static org.groundchat.security.SignedInByDefault.as;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.quarkus.websockets.next.BasicWebSocketConnector;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.groundchat.chat.TurnCoordinator;
import org.junit.jupiter.api.Test;

/**
 * An account may have at most groundchat.limits.queued-answers answers waiting or running across all its
 * conversations; a turn over the limit (WebSocket user_turn or regenerate, or /v1/chat/completions) is refused with
 * rate_limited and a retry time, and stores nothing. Other accounts are not affected, and the places come back as
 * answers end.
 */
@QuarkusTest
@TestProfile(QueuedAnswersTest.TwoAnswers.class)
class QueuedAnswersTest {
    static final int LIMIT = 2;
    /** The 8-object golden scene: describing it is the longest answer the model gives (a mask per object). */
    static final Path BUSY_IMAGE = Path.of("models/default/golden/case1.png");
    static final String LONG = "describe the image .";

    public static class TwoAnswers implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("groundchat.limits.queued-answers", String.valueOf(LIMIT));
        }
    }

    @TestHTTPResource("/")
    URI base;
    @Inject
    Instance<BasicWebSocketConnector> connector;
    @Inject
    TurnCoordinator coordinator;

    private static String upload(String token) throws Exception {
        return as(token).multiPart("file", "scene.png", Files.readAllBytes(BUSY_IMAGE), "image/png").post("/api/images")
                .then().statusCode(201).extract().path("id");
    }

    private static String conversation(String token) {
        return as(token).contentType(ContentType.JSON).body("{}").post("/api/conversations").then().statusCode(201)
                .extract().path("id");
    }

    private static int messages(String token, String conversation) {
        return as(token).get("/api/conversations/" + conversation).then().statusCode(200).extract().path("messages.size()");
    }

    private static int conversations(String token) {
        return as(token).get("/api/conversations?size=1").then().statusCode(200).extract().path("total");
    }

    private static JsonNode last(List<JsonNode> events) {
        return events.get(events.size() - 1);
    }

    /** The turn's first answer: accepted, or the error event that refused it (a late cancel's reply skipped). */
    private static JsonNode firstAnswer(WsClient ws) throws InterruptedException {
        return last(ws.until(e -> e.path("type").asText().equals("accepted") || (e.path("type").asText().equals("error")
                && !e.path("code").asText().equals("nothing_to_cancel")), Duration.ofSeconds(30)));
    }

    private static void assertRateLimited(JsonNode event) {
        assertEquals("error", event.path("type").asText(), event.toString());
        assertEquals("rate_limited", event.path("code").asText(), event.toString());
        assertTrue(event.path("retryAfter").asInt() > 0, event.toString());
        assertTrue(event.path("reason").asText().contains(String.valueOf(LIMIT)), event.toString());
    }

    /** Stops the socket's answer and waits for its end (a turn that already ended is fine too). */
    private static void stop(WsClient ws) throws InterruptedException {
        ws.send("{\"type\":\"cancel\"}");
        ws.until(e -> Set.of("cancelled", "done").contains(e.path("type").asText())
                || e.path("code").asText().equals("nothing_to_cancel"), Duration.ofSeconds(60));
    }

    /**
     * Keeps the single answer worker busy for a while: long answers from other accounts (each may hold only LIMIT),
     * all prepared first and then sent at once, so that answers submitted after them wait and hold their places.
     */
    private List<WsClient> occupyWorker(int accounts) throws Exception {
        List<WsClient> busy = new ArrayList<>();
        List<String> images = new ArrayList<>();
        for (int i = 0; i < accounts; i++) {
            String token = newUserToken("user");
            String image = upload(token);
            for (int k = 0; k < LIMIT; k++) {
                busy.add(new WsClient(connector, base, conversation(token), token));
                images.add(image);
            }
        }
        for (int i = 0; i < busy.size(); i++) busy.get(i).send(ChatServiceTest.turn(LONG, images.get(i), null));
        for (WsClient ws : busy) assertEquals("accepted", firstAnswer(ws).path("type").asText());
        return busy;
    }

    private UUID accountId(String token) {
        return UUID.fromString(as(token).get("/api/me").then().statusCode(200).extract().path("id"));
    }

    @Test
    void anAccountOverItsAnswersIsRefusedUntilOneEndsAndOthersAreNotAffected() throws Exception {
        String alice = newUserToken("user");
        String bob = newUserToken("user");
        UUID aliceId = accountId(alice);
        String aliceImage = upload(alice);
        String bobImage = upload(bob);
        String finished = conversation(alice), first = conversation(alice), second = conversation(alice),
                third = conversation(alice);
        String bobsSecond = conversation(bob);

        List<WsClient> sockets = new ArrayList<>();
        try {
            // a complete answer to regenerate later
            WsClient done = new WsClient(connector, base, finished, alice);
            sockets.add(done);
            done.send(ChatServiceTest.turn("where is the red circle ?", aliceImage, null));
            done.untilType("done");
            assertEquals(0, coordinator.answersHeld(aliceId), "an ended answer gives its place back");

            // everything alice and bob send next is prepared first: the worker is kept busy only for some seconds
            WsClient a1 = new WsClient(connector, base, first, alice);
            WsClient a2 = new WsClient(connector, base, second, alice);
            WsClient a3 = new WsClient(connector, base, third, alice);
            WsClient bob2 = new WsClient(connector, base, bobsSecond, bob);
            sockets.addAll(List.of(a1, a2, a3, bob2));
            String png = Base64.getEncoder().encodeToString(Files.readAllBytes(BUSY_IMAGE));
            String completionBody = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\""
                    + LONG + "\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64," + png + "\"}}]}]}";
            int before = conversations(alice);

            // other accounts' long answers keep the worker busy: alice's answers wait behind them and hold their places
            List<WsClient> busy = occupyWorker(6);
            sockets.addAll(busy);
            a1.send(ChatServiceTest.turn(LONG, aliceImage, null));
            assertEquals("accepted", firstAnswer(a1).path("type").asText());
            a2.send(ChatServiceTest.turn(LONG, aliceImage, null));
            assertEquals("accepted", firstAnswer(a2).path("type").asText());
            assertEquals(LIMIT, coordinator.answersHeld(aliceId));

            // over the limit: a new turn in a third conversation, a regenerate, an OpenAI-style completion
            a3.send(ChatServiceTest.turn(LONG, aliceImage, null));
            assertRateLimited(firstAnswer(a3));
            done.send("{\"type\":\"regenerate\"}");
            assertRateLimited(firstAnswer(done));
            Response completion = as(alice).contentType(ContentType.JSON).body(completionBody).post("/v1/chat/completions");
            completion.then().statusCode(429).header("Retry-After", equalTo("5"))
                    .body("error.code", equalTo("rate_limited")).body("error.type", equalTo("rate_limit_error"));
            // dense captions generate answers too: they go through the same admission
            as(alice).post("/api/images/" + aliceImage + "/dense-captions").then().statusCode(429)
                    .header("Retry-After", equalTo("5")).body("error", equalTo("rate_limited"));
            // nothing of the refused turns was stored
            assertEquals(0, messages(alice, third));
            assertEquals(2, messages(alice, finished));
            assertEquals(before, conversations(alice), "the refused completion created no conversation");
            assertEquals(LIMIT, coordinator.answersHeld(aliceId), "refusals hold no place");

            // bob has places of his own
            bob2.send(ChatServiceTest.turn(LONG, bobImage, null));
            assertEquals("accepted", firstAnswer(bob2).path("type").asText());

            // a stopped answer gives its place back (a waiting one at once, without waiting for the queue to reach it);
            // the cancel travels on another connection, so the next turn may still find the place taken for a moment
            a2.send("{\"type\":\"cancel\"}");
            JsonNode next = null;
            for (int attempt = 0; attempt < 100; attempt++) {
                a3.send(ChatServiceTest.turn(LONG, aliceImage, null));
                next = firstAnswer(a3);
                if (next.path("type").asText().equals("accepted")) break;
                assertRateLimited(next);
                Thread.sleep(100);
            }
            assertEquals("accepted", next.path("type").asText(), next.toString());
            for (WsClient ws : busy) stop(ws);
            for (WsClient ws : List.of(bob2, a1, a3)) stop(ws);
            a2.until(e -> Set.of("cancelled", "done").contains(e.path("type").asText()), Duration.ofSeconds(60));
            assertEquals(0, coordinator.answersHeld(aliceId), "every ended answer gave its place back");

            // after the answers ended, the account has all its places again
            a1.send(ChatServiceTest.turn("where is the red circle ?", null, null));
            assertEquals("accepted", firstAnswer(a1).path("type").asText());
            done.send("{\"type\":\"regenerate\"}");
            assertEquals("accepted", firstAnswer(done).path("type").asText());
            a1.untilType("done");
            done.untilType("done");
            assertEquals(4, messages(alice, first));
        } finally {
            for (WsClient ws : sockets) ws.close();
        }
        // nothing stays counted once the connections are gone
        for (int i = 0; i < 100 && coordinator.answersHeld(aliceId) > 0; i++) Thread.sleep(100);
        assertEquals(0, coordinator.answersHeld(aliceId));
    }

    @Test
    void closingTheConnectionGivesTheAnswersPlaceBack() throws Exception {
        String carol = newUserToken("user");
        UUID carolId = accountId(carol);
        String image = upload(carol);
        String one = conversation(carol), two = conversation(carol), three = conversation(carol);
        List<WsClient> busy = new ArrayList<>();
        try {
            try (WsClient a = new WsClient(connector, base, one, carol); WsClient b = new WsClient(connector, base, two, carol)) {
                busy.addAll(occupyWorker(3));
                a.send(ChatServiceTest.turn(LONG, image, null));
                assertEquals("accepted", firstAnswer(a).path("type").asText());
                b.send(ChatServiceTest.turn(LONG, image, null));
                assertEquals("accepted", firstAnswer(b).path("type").asText());
                assertEquals(LIMIT, coordinator.answersHeld(carolId));
            }
            // the closed connections stopped their answers, still waiting behind the busy ones: the places come back
            for (int i = 0; i < 100 && coordinator.answersHeld(carolId) > 0; i++) Thread.sleep(50);
            assertEquals(0, coordinator.answersHeld(carolId), "the closed connections' answers were counted out");
            try (WsClient again = new WsClient(connector, base, three, carol)) {
                again.send(ChatServiceTest.turn("where is the red circle ?", image, null));
                assertEquals("accepted", firstAnswer(again).path("type").asText());
                for (WsClient ws : busy) stop(ws);
                again.untilType("done");
            }
        } finally {
            for (WsClient ws : busy) ws.close();
        }
        assertEquals(0, coordinator.answersHeld(carolId));
    }
}

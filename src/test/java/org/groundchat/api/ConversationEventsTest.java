package org.groundchat.api;

import static org.groundchat.api.ChatServiceTest.conversation;
import static org.groundchat.api.ChatServiceTest.turn;
import static org.groundchat.api.ChatServiceTest.upload;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.agroal.api.AgroalDataSource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.websockets.next.BasicWebSocketConnector;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.groundchat.persistence.NotifyChannel;
import org.junit.jupiter.api.Test;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

/**
 * A conversation's answer reaches every socket open on it: a second socket on this replica, and (through PostgreSQL
 * NOTIFY) sockets on other replicas, whose messages this test sends as another replica would. A cancel for an answer
 * that runs on another replica is passed to it.
 */
@QuarkusTest
class ConversationEventsTest {
    private static final Path SCENE = Path.of("models/default/golden/case0.png");

    @TestHTTPResource("/")
    URI base;
    @Inject
    Instance<BasicWebSocketConnector> connector;
    @Inject
    NotifyChannel channel;
    @Inject
    AgroalDataSource db;
    @ConfigProperty(name = "quarkus.datasource.jdbc.url")
    String url;
    @ConfigProperty(name = "quarkus.datasource.username")
    String user;
    @ConfigProperty(name = "quarkus.datasource.password")
    String password;

    @Test
    void aSecondSocketSeesTheAnswerAnotherSocketAskedFor() throws Exception {
        String image = upload(Files.readAllBytes(SCENE));
        String conv = conversation();
        try (WsClient asking = new WsClient(connector, base, conv); WsClient watching = new WsClient(connector, base, conv)) {
            Thread.sleep(300); // both sockets open before the turn
            asking.send(turn("find the red circle .", image, null));
            List<JsonNode> asked = asking.untilType("done");
            List<JsonNode> seen = watching.until(e -> e.path("type").asText().equals("done"), Duration.ofSeconds(30));
            assertEquals(types(asked), types(seen), "the watching socket gets the same events in the same order");
            JsonNode done = seen.get(seen.size() - 1);
            assertEquals(asked.get(asked.size() - 1).path("message"), done.path("message"));
            assertEquals("complete", done.path("message").path("status").asText());
        }
    }

    @Test
    void aSocketThatJoinsMidAnswerResumesFromTheFirstEvent() throws Exception {
        String image = upload(Files.readAllBytes(Path.of("models/default/golden/case1.png")));
        String conv = conversation();
        try (WsClient asking = new WsClient(connector, base, conv)) {
            asking.send(turn("describe the image .", image, null));
            asking.untilType("text"); // the answer is under way
            asking.send(turn("find the red circle .", null, null)); // refused: it must not replace what resumes
            List<JsonNode> untilRefused = asking.untilType("error");
            assertEquals("turn_in_progress", untilRefused.get(untilRefused.size() - 1).path("code").asText());
            try (WsClient joining = new WsClient(connector, base, conv)) {
                joining.send("{\"type\":\"resume\",\"after\":0}");
                List<JsonNode> got = joining.untilType("done");
                // live events (the socket is subscribed since it opened) may come before "resumed"
                JsonNode resumed = got.stream().filter(e -> e.path("type").asText().equals("resumed")).findFirst()
                        .orElseThrow(() -> new AssertionError("no resumed event: " + got));
                assertTrue(resumed.path("running").asBoolean());
                // events may come twice (live and replayed, same index): keep the first of each index
                java.util.TreeMap<Integer, JsonNode> byIndex = new java.util.TreeMap<>();
                for (JsonNode e : got) {
                    if (e.has("index")) byIndex.putIfAbsent(e.path("index").asInt(), e);
                }
                assertEquals(1, byIndex.firstKey(), "from the turn's first event");
                assertEquals(byIndex.size(), byIndex.lastKey(), "no index missing");
                assertEquals("accepted", byIndex.get(1).path("type").asText());
                String text = byIndex.values().stream().filter(e -> e.path("type").asText().equals("text"))
                        .map(e -> e.path("delta").asText()).reduce("", String::concat);
                assertEquals(byIndex.lastEntry().getValue().path("message").path("text").asText(), text,
                        "the resumed events make the whole answer");
            }
            asking.untilType("done");
        }
        try (WsClient late = new WsClient(connector, base, conv)) {
            late.send("{\"type\":\"resume\",\"after\":3}");
            List<JsonNode> untilResumed = late.untilType("resumed");
            JsonNode idle = untilResumed.get(untilResumed.size() - 1);
            assertTrue(!idle.path("running").asBoolean(), "nothing runs: read the stored conversation");
            late.send("{\"type\":\"resume\",\"after\":-1}");
            List<JsonNode> untilError = late.untilType("error");
            assertEquals("invalid_frame", untilError.get(untilError.size() - 1).path("code").asText());
        }
    }

    @Test
    void aSenderThatReconnectsWithinTheGraceKeepsItsAnswerAndOneThatDoesNotLosesIt() throws Exception {
        String image = upload(Files.readAllBytes(Path.of("models/default/golden/case1.png")));
        String kept = conversation(), abandoned = conversation();
        String turnId;
        try (WsClient sender = new WsClient(connector, base, kept)) {
            sender.send(turn("describe the image .", image, null));
            List<JsonNode> seen = sender.untilType("text");
            turnId = seen.get(0).path("turnId").asText();
        } // the network dropped
        try (WsClient back = new WsClient(connector, base, kept)) {
            back.send("{\"type\":\"resume\",\"after\":2,\"turnId\":\"" + turnId + "\"}");
            List<JsonNode> rest = back.untilType("done");
            assertEquals("complete", rest.get(rest.size() - 1).path("message").path("status").asText(),
                    "the answer ran on for the client that came back");
        }
        // The abandoned answer is held before it starts, whatever the machine's speed: this test holds, uncommitted,
        // a row in the answer's place (seq 2, after the question's 1), so the answer's insert waits for this
        // transaction. The sender goes away; the row is rolled back well after the 0.5 s grace: an answer nobody
        // came back for is cancelled.
        try (Connection hold = java.sql.DriverManager.getConnection(url, user, password)) {
            hold.setAutoCommit(false);
            try (Statement s = hold.createStatement()) {
                s.execute("insert into messages (id, conversation_id, seq, role, display_text, status, created_at) values ('"
                        + UUID.randomUUID() + "', '" + abandoned + "', 2, 'assistant', '', 'streaming', now())");
            }
            try (WsClient sender = new WsClient(connector, base, abandoned)) {
                sender.send(turn("describe the image .", image, null));
                sender.untilType("accepted");
                awaitAppWaitingOnLock(hold);
            }
            Thread.sleep(1500);
            hold.rollback();
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        String status = "streaming";
        while (!status.equals("cancelled") && System.nanoTime() < deadline) {
            Thread.sleep(200);
            status = io.restassured.RestAssured.given().get("/api/conversations/" + abandoned).then().extract()
                    .path("messages[1].status");
        }
        assertEquals("cancelled", status, "nobody came back within the grace (0.5 s in tests): the answer stopped");
    }

    /** Waits until a statement of the app waits for a transaction of this test. */
    private static void awaitAppWaitingOnLock(Connection lock) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        try (Statement s = lock.createStatement()) {
            while (System.nanoTime() < deadline) {
                try (var rs = s.executeQuery("select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
                        + " and pid <> pg_backend_pid()")) {
                    rs.next();
                    if (rs.getInt(1) > 0) return;
                }
                Thread.sleep(20);
            }
        }
        throw new AssertionError("the answer never reached the held row");
    }

    @Test
    void eventsFromAnotherReplicaReachThisReplicasSockets() throws Exception {
        String conv = conversation();
        try (WsClient ws = new WsClient(connector, base, conv)) {
            Thread.sleep(300);
            channel.publish(remote(conv, "text", "{\"delta\":\"hello from b\"}"));
            // over NOTIFY's 8000-byte limit: through the payload table
            String big = "x".repeat(20_000);
            channel.publish(remote(conv, "text", "{\"delta\":\"" + big + "\"}"));
            channel.publish(remote(UUID.randomUUID().toString(), "text", "{\"delta\":\"another conversation\"}"));
            List<JsonNode> got = ws.until(e -> e.path("delta").asText().length() == big.length(), Duration.ofSeconds(10));
            List<JsonNode> texts = got.stream().filter(e -> e.path("type").asText().equals("text")).toList();
            assertEquals(2, texts.size(), got.toString());
            assertEquals("hello from b", texts.get(0).path("delta").asText());
            assertEquals("t-b", texts.get(0).path("turnId").asText());
            assertEquals(big, texts.get(1).path("delta").asText());
        }
    }

    @Test
    void aCancelForAnAnswerOnAnotherReplicaIsPassedToIt() throws Exception {
        String conv = conversation();
        try (Connection listen = java.sql.DriverManager.getConnection(url, user, password);
             WsClient ws = new WsClient(connector, base, conv)) {
            try (Statement s = listen.createStatement()) {
                s.execute("LISTEN groundchat_events");
            }
            try (Connection c = db.getConnection(); PreparedStatement s = c.prepareStatement("insert into answer_claims"
                    + " (conversation_id, turn_id, replica, lease_until) values (?::uuid, ?::uuid, 'replica-b:8080',"
                    + " now() + interval '60 seconds')")) {
                s.setString(1, conv);
                s.setString(2, UUID.randomUUID().toString());
                s.executeUpdate();
            }
            ws.send("{\"type\":\"cancel\"}");
            long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            String cancel = null;
            while (cancel == null && System.nanoTime() < end) {
                PGNotification[] ns = listen.unwrap(PGConnection.class).getNotifications(500);
                if (ns == null) continue;
                for (PGNotification n : ns) {
                    if (n.getParameter().contains("\"kind\":\"cancel\"") && n.getParameter().contains(conv)) {
                        cancel = n.getParameter();
                    }
                }
            }
            assertTrue(cancel != null, "a cancel went out to the replica that runs the answer");
            Thread.sleep(300);
            assertTrue(ws.seen.stream().noneMatch(e -> e.path("type").asText().equals("error")) && ws.events.stream()
                    .noneMatch(e -> e.path("type").asText().equals("error")), "no nothing_to_cancel error");
        }
    }

    private static String remote(String conv, String type, String payload) {
        return "{\"replica\":\"replica-b:8080\",\"kind\":\"event\",\"conversation\":\"" + conv + "\",\"type\":\"" + type
                + "\",\"turn\":\"t-b\",\"payload\":" + payload + "}";
    }

    private static List<String> types(List<JsonNode> events) {
        return events.stream().map(e -> e.path("type").asText()).toList();
    }
}

package org.groundchat.api;

import static io.restassured.RestAssured.given;
import static org.groundchat.api.ChatServiceTest.conversation;
import static org.groundchat.api.ChatServiceTest.messageCount;
import static org.groundchat.api.ChatServiceTest.turn;
import static org.groundchat.api.ChatServiceTest.upload;
import static org.hamcrest.Matchers.equalTo;
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
import java.sql.ResultSet;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.groundchat.chat.AnswerClaims;
import org.junit.jupiter.api.Test;

/**
 * One answer per conversation across replicas, seen from one replica: another replica's claim in the database (a row
 * this test writes as that replica would) refuses this one's turns and deletion; a claim whose replica died (its
 * lease ran out) is cleared, the answer it left "streaming" is marked failed, and the conversation works again.
 */
@QuarkusTest
class AnswerClaimsTest {
    private static final Path SCENE = Path.of("models/default/golden/case0.png");
    @TestHTTPResource("/")
    URI base;
    @Inject
    Instance<BasicWebSocketConnector> connector;
    @Inject
    AgroalDataSource db;
    @Inject
    AnswerClaims claims;

    @Test
    void aConversationClaimedByAnotherReplicaRefusesTurnsAndDeletion() throws Exception {
        String image = upload(Files.readAllBytes(SCENE));
        String conv = conversation();
        claimAsOtherReplica(conv, "interval '60 seconds'");
        try (WsClient ws = new WsClient(connector, base, conv)) {
            ws.send(turn("find the red circle .", image, null));
            JsonNode refused = ws.untilType("error").get(0);
            assertEquals("turn_in_progress", refused.path("code").asText(), refused.toString());
        }
        given().delete("/api/conversations/" + conv).then().statusCode(409).body("error", equalTo("turn_in_progress"));
        assertEquals(0, messageCount(conv), "nothing of the refused turn is stored");

        sql("delete from answer_claims where conversation_id = ?::uuid", conv); // the other replica's answer ended
        assertAnswered(conv, image);
        assertEquals(0, count("select count(*) from answer_claims where conversation_id = ?::uuid", conv),
                "the answer gave its claim back");
    }

    @Test
    void anAnswerLeftByADeadReplicaIsFailedWithinTheLeaseAndTheConversationWorksAgain() throws Exception {
        String image = upload(Files.readAllBytes(SCENE));
        String conv = conversation();
        try (WsClient ws = new WsClient(connector, base, conv)) {
            ws.send(turn("find the red circle .", image, null));
            ws.untilType("done");
        }
        // the other replica claimed the conversation, started an answer, renewed its lease once more, and died
        claimAsOtherReplica(conv, "interval '2 seconds'");
        String stranded = strandAnswer(conv);

        long start = System.nanoTime();
        String status = "streaming";
        while (status.equals("streaming") && System.nanoTime() - start < Duration.ofSeconds(20).toNanos()) {
            Thread.sleep(200);
            status = text("select status from messages where id = ?::uuid", stranded);
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        assertEquals("failed", status, "the stranded answer is ended");
        // the lease had 2 s left; this replica sweeps every lease / 4 (2.5 s by default)
        assertTrue(seconds < 2 + 2.5 + 1.5, "ended after " + seconds + " s");
        assertTrue(text("select error_reason from messages where id = ?::uuid", stranded).contains("interrupted"));
        assertEquals(0, count("select count(*) from answer_claims where conversation_id = ?::uuid", conv));

        int before = messageCount(conv);
        assertAnswered(conv, image);
        assertEquals(before + 2, messageCount(conv));
    }

    @Test
    void anExpiredClaimIsTakenOverByTheNextTurnWhichEndsTheStrandedAnswer() throws Exception {
        String image = upload(Files.readAllBytes(SCENE));
        String conv = conversation();
        try (WsClient ws = new WsClient(connector, base, conv)) {
            ws.send(turn("find the red circle .", image, null));
            ws.untilType("done");
        }
        String stranded = strandAnswer(conv);
        claimAsOtherReplica(conv, "interval '-1 second'");
        try (WsClient ws = new WsClient(connector, base, conv)) {
            ws.send(turn("find the red circle .", image, null));
            ws.untilType("accepted");
            // ended by the takeover itself, in the claim's transaction (a sweep might also get there first)
            assertEquals("failed", text("select status from messages where id = ?::uuid", stranded));
            List<JsonNode> events = ws.untilType("done");
            assertEquals("complete", events.get(events.size() - 1).path("message").path("status").asText());
        }
    }

    @Test
    void aClaimThisReplicaFailedToGiveBackRunsOut() throws Exception {
        String image = upload(Files.readAllBytes(SCENE));
        String conv = conversation();
        // what a release lost to a short database outage leaves: this replica's claim, no answer running
        sql("insert into answer_claims (conversation_id, turn_id, replica, lease_until) values (?::uuid, ?::uuid, ?,"
                + " now() + interval '1 second')", conv, UUID.randomUUID().toString(), claims.replica());
        Thread.sleep(1000 + 2500 + 1000); // the lease, one renewal/sweep period, a margin
        assertEquals(0, count("select count(*) from answer_claims where conversation_id = ?::uuid", conv),
                "not renewed: it ran out and was swept");
        assertAnswered(conv, image);
    }

    /** A question and an answer left "streaming" (as a replica that died mid-answer leaves them); the answer's id. */
    private String strandAnswer(String conv) throws Exception {
        sql("insert into messages (id, conversation_id, seq, role, display_text, model_text, status, image_id, created_at)"
                + " select ?::uuid, c.id, (select max(seq) + 1 from messages where conversation_id = c.id), 'user',"
                + " 'find the blue square .', 'find the blue square .', 'complete', c.image_id, now() from conversations c"
                + " where c.id = ?::uuid", UUID.randomUUID().toString(), conv);
        String stranded = UUID.randomUUID().toString();
        sql("insert into messages (id, conversation_id, seq, role, display_text, status, image_id, created_at)"
                + " select ?::uuid, c.id, (select max(seq) + 1 from messages where conversation_id = c.id), 'assistant',"
                + " 'half an ans', 'streaming', c.image_id, now() from conversations c where c.id = ?::uuid", stranded, conv);
        return stranded;
    }

    /** One turn in the conversation is answered and stored complete. */
    private void assertAnswered(String conv, String image) throws Exception {
        try (WsClient ws = new WsClient(connector, base, conv)) {
            ws.send(turn("find the red circle .", image, null));
            List<JsonNode> events = ws.untilType("done");
            assertEquals("complete", events.get(events.size() - 1).path("message").path("status").asText());
        }
    }

    private void claimAsOtherReplica(String conv, String leaseLeft) throws Exception {
        sql("insert into answer_claims (conversation_id, turn_id, replica, lease_until) values (?::uuid, ?::uuid,"
                + " 'replica-b:8080', now() + " + leaseLeft + ")", conv, UUID.randomUUID().toString());
    }

    private void sql(String statement, String... args) throws Exception {
        try (Connection c = db.getConnection(); PreparedStatement s = c.prepareStatement(statement)) {
            for (int i = 0; i < args.length; i++) s.setString(i + 1, args[i]);
            s.executeUpdate();
        }
    }

    private String text(String query, String arg) throws Exception {
        try (Connection c = db.getConnection(); PreparedStatement s = c.prepareStatement(query)) {
            s.setString(1, arg);
            try (ResultSet r = s.executeQuery()) {
                return r.next() ? r.getString(1) : null;
            }
        }
    }

    private int count(String query, String arg) throws Exception {
        return Integer.parseInt(text(query, arg));
    }
}

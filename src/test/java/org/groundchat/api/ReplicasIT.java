package org.groundchat.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Two replicas of the packaged app (target/quarkus-app) on one PostgreSQL server that this test starts: a turn sent
 * through one streams to sockets on both; two turns for one conversation sent at once through both run once; a
 * replica stopped with SIGTERM finishes its answer and closes its sockets with 1012; the answer of a replica killed
 * with SIGKILL is marked failed by the other within the lease; /q/metrics counts the answers. Runs in `mvn verify`.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ReplicasIT {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newHttpClient();
    static final Path GOLDEN = Path.of("models/default/golden");
    private static final String TOKEN = "replicas-test-token";
    /** Short, so the test sees a dead replica's answer ended soon; a replica sweeps every lease / 4. */
    private static final Duration LEASE = Duration.ofSeconds(3);

    private Path tmp;
    private EmbeddedPostgres postgres;
    private final List<Process> apps = new ArrayList<>();
    private URI a, b;
    private String busyImage, sparseImage;

    @BeforeAll
    void start() throws Exception {
        tmp = Files.createTempDirectory("replicas-it");
        postgres = EmbeddedPostgres.builder().setDataDirectory(tmp.resolve("pg")).setCleanDataDirectory(true).start();
        a = boot("replica-a");
        b = boot("replica-b");
        busyImage = upload(a, Files.readAllBytes(GOLDEN.resolve("case1.png")));
        sparseImage = upload(a, Files.readAllBytes(GOLDEN.resolve("case6.png")));
    }

    @AfterAll
    void stop() throws Exception {
        for (Process p : apps) {
            p.destroy();
            if (!p.waitFor(60, TimeUnit.SECONDS)) p.destroyForcibly();
        }
        if (postgres != null) postgres.close();
    }

    @Test
    @Order(1)
    void aTurnSentThroughOneReplicaStreamsToSocketsOnBoth() throws Exception {
        String conv = conversation(a);
        try (Socket onA = new Socket(a, conv); Socket onB = new Socket(b, conv)) {
            Thread.sleep(500); // B's listener and both subscriptions are in place before the turn
            onA.send(turn("find the red circle .", sparseImage));
            List<JsonNode> asked = onA.until(type("done"));
            List<JsonNode> seen = onB.until(type("done"));
            assertEquals(types(asked), types(seen), "the socket on the other replica gets the same events, in order");
            JsonNode done = last(asked);
            assertEquals(done.path("message"), last(seen).path("message"));
            JsonNode stored = get(b, "/api/conversations/" + conv).path("messages").get(1);
            assertEquals("complete", stored.path("status").asText());
            assertEquals(done.path("message").path("id"), stored.path("id"));
            assertEquals(done.path("message").path("text"), stored.path("text"));
            assertEquals(done.path("message").path("regions"), stored.path("regions"), "stored as streamed");
            String streamed = seen.stream().filter(type("text")).map(e -> e.path("delta").asText())
                    .collect(Collectors.joining());
            assertEquals(stored.path("text").asText(), streamed, "the text B streamed is the stored text");
        }
    }

    @Test
    @Order(2)
    void twoTurnsSentAtOnceThroughBothReplicasRunOnce() throws Exception {
        String conv = conversation(a);
        try (Socket onA = new Socket(a, conv); Socket onB = new Socket(b, conv)) {
            Thread.sleep(500);
            CompletableFuture<Void> sendA = CompletableFuture.runAsync(() -> onA.send(turn("describe the image .", busyImage)));
            CompletableFuture<Void> sendB = CompletableFuture.runAsync(() -> onB.send(turn("describe the image .", busyImage)));
            sendA.get(30, TimeUnit.SECONDS);
            sendB.get(30, TimeUnit.SECONDS);
            List<JsonNode> all = new ArrayList<>(onA.until(type("done")));
            all.addAll(onB.until(type("done")));
            Thread.sleep(500); // a refusal sent after the other socket's done would still arrive
            all.addAll(onA.drain());
            all.addAll(onB.drain());
            Set<String> accepted = all.stream().filter(type("accepted")).map(e -> e.path("turnId").asText())
                    .collect(Collectors.toSet());
            long refused = all.stream().filter(e -> e.path("code").asText().equals("turn_in_progress")).count();
            assertEquals(1, accepted.size(), "exactly one turn ran: " + all);
            assertEquals(1, refused, "the other was refused with turn_in_progress");
        }
        assertEquals(2, get(a, "/api/conversations/" + conv).path("messages").size(), "one question, one answer");
    }

    @Test
    @Order(3)
    void aSocketOnTheOtherReplicaResumesARunningAnswer() throws Exception {
        String conv = conversation(a);
        try (Socket onA = new Socket(a, conv)) {
            onA.send(turn("describe the image .", busyImage));
            onA.until(type("text")); // under way on A
            try (Socket onB = new Socket(b, conv)) {
                onB.send("{\"type\":\"resume\",\"after\":0}");
                List<JsonNode> got = onB.until(type("done"));
                // live events (B's socket is subscribed since it opened) may come before "resumed"
                JsonNode resumed = got.stream().filter(type("resumed")).findFirst()
                        .orElseThrow(() -> new AssertionError("no resumed event: " + got));
                assertTrue(resumed.path("running").asBoolean(), "B knows the answer runs on A");
                TreeMap<Integer, JsonNode> byIndex = new TreeMap<>();
                for (JsonNode e : got) {
                    if (e.has("index")) byIndex.putIfAbsent(e.path("index").asInt(), e);
                }
                assertEquals(1, byIndex.firstKey(), "replayed from the turn's first event");
                assertEquals(byIndex.size(), byIndex.lastKey(), "no index missing");
                String text = byIndex.values().stream().filter(type("text")).map(e -> e.path("delta").asText())
                        .collect(Collectors.joining());
                JsonNode stored = get(b, "/api/conversations/" + conv).path("messages").get(1);
                assertEquals(stored.path("text").asText(), text, "the resumed events make the stored answer");
            }
            onA.until(type("done"));
        }
    }

    @Test
    @Order(4)
    void metricsCountTheAnswers() throws Exception {
        double complete = 0;
        for (URI replica : List.of(a, b)) complete += metric(replica, "groundchat_answers_ended_total\\{outcome=\"complete\"[^}]*}");
        assertEquals(3.0, complete, "the three answers of this test so far, counted where they ran");
    }

    @Test
    @Order(5)
    void aReplicaStoppedWithSigtermFinishesItsAnswerAndSendsClientsElsewhere() throws Exception {
        String conv = conversation(a);
        String messageId;
        Socket onA = new Socket(a, conv);
        try {
            onA.send(turn("describe the image .", busyImage));
            messageId = last(onA.until(type("started"))).path("messageId").asText();
            Process replicaA = apps.get(0);
            replicaA.destroy(); // SIGTERM
            List<JsonNode> rest = onA.until(e -> type("done").test(e) || type("error").test(e));
            JsonNode end = last(rest);
            assertTrue(type("done").test(end) || end.path("code").asText().equals("server_stopping"), end.toString());
            assertEquals(1012, onA.closeCode.get(30, TimeUnit.SECONDS), "closed with 1012 (service restart)");
            assertTrue(replicaA.waitFor(60, TimeUnit.SECONDS), "replica A exited");
        } finally {
            onA.close();
        }
        // the client reconnects to the other replica and finds the final state
        try (Socket onB = new Socket(b, conv)) {
            JsonNode answer = get(b, "/api/conversations/" + conv).path("messages").get(1);
            assertEquals(messageId, answer.path("id").asText());
            String status = answer.path("status").asText();
            assertTrue(status.equals("complete") || (status.equals("failed") && answer.toString().contains("stopped")),
                    answer.toString());
        }
    }

    @Test
    @Order(6)
    void theAnswerOfAKilledReplicaIsFailedByTheOtherWithinTheLease() throws Exception {
        URI a2 = boot("replica-a2");
        Map<String, JsonNode> before = stored(b);
        String conv = conversation(a2);
        String messageId;
        try (Socket onA2 = new Socket(a2, conv)) {
            onA2.send(turn("describe the image .", busyImage));
            messageId = last(onA2.until(type("started"))).path("messageId").asText();
            apps.get(apps.size() - 1).destroyForcibly().waitFor(30, TimeUnit.SECONDS); // SIGKILL mid-answer
        }
        long killed = System.nanoTime();
        String status = "streaming";
        JsonNode answer = null;
        while (status.equals("streaming") && System.nanoTime() - killed < TimeUnit.SECONDS.toNanos(30)) {
            Thread.sleep(100);
            for (JsonNode m : get(b, "/api/conversations/" + conv).path("messages")) {
                if (m.path("id").asText().equals(messageId)) answer = m;
            }
            assertNotNull(answer, "the answer is stored");
            status = answer.path("status").asText();
        }
        double seconds = (System.nanoTime() - killed) / 1e9;
        assertEquals("failed", status, answer.toString());
        assertTrue(answer.toString().contains("interrupted"), answer.toString());
        double limit = LEASE.toMillis() / 1000.0 * 1.25 + 1.5; // the lease, one sweep period, a margin for the poll
        assertTrue(seconds <= limit, "marked failed after " + seconds + " s (limit " + limit + " s)");
        System.out.printf("ReplicasIT: a killed replica's answer was marked failed by the other after %.1f s"
                + " (lease %d s)%n", seconds, LEASE.toSeconds());
        // a new turn through B works; nothing else stored changed
        try (Socket onB = new Socket(b, conv)) {
            onB.send(turn("find the red circle .", busyImage));
            assertEquals("complete", last(onB.until(type("done"))).path("message").path("status").asText());
        }
        Map<String, JsonNode> after = stored(b);
        after.remove(conv);
        assertEquals(before, after, "the other conversations are unchanged");
    }

    // --- the replicas and their clients ---

    private URI boot(String name) throws Exception {
        return PackagedAppHttp.start(apps, "replica " + name, tmp.resolve(name + ".log"), List.of(
                "-Dquarkus.datasource.jdbc.url=" + postgres.getJdbcUrl("postgres", "postgres"),
                "-Dquarkus.datasource.username=postgres",
                "-Dgroundchat.replicas.name=" + name, "-Dgroundchat.replicas.lease=" + LEASE.toMillis() + "ms",
                "-Dgroundchat.shutdown.grace=30s", "-Dgroundchat.db.dir=" + tmp.resolve("shared").resolve("postgres"),
                "-Dgroundchat.auth.bootstrap-token=" + TOKEN, "-Dgroundchat.auth.admin-password=replicas-admin-pw"));
    }

    private static String upload(URI base, byte[] png) throws Exception {
        return PackagedAppHttp.upload(base, TOKEN, png);
    }

    private static String conversation(URI base) throws Exception {
        return PackagedAppHttp.conversation(base, TOKEN, "replicas");
    }

    private static JsonNode get(URI base, String path) throws Exception {
        return PackagedAppHttp.get(base, TOKEN, path);
    }

    private static double metric(URI base, String series) throws Exception {
        String text = HTTP.send(HttpRequest.newBuilder(base.resolve("/q/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        Matcher m = Pattern.compile("(?m)^" + series + " ([0-9.eE+-]+)$").matcher(text);
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    /** Every conversation with its messages, by id. */
    private static Map<String, JsonNode> stored(URI base) throws Exception {
        Map<String, JsonNode> all = new TreeMap<>();
        for (JsonNode c : get(base, "/api/conversations?size=100").path("items")) {
            String id = c.path("id").asText();
            all.put(id, get(base, "/api/conversations/" + id));
        }
        return all;
    }

    private static String turn(String text, String imageId) {
        return JSON.createObjectNode().put("type", "user_turn").put("text", text).put("imageId", imageId).toString();
    }

    private static Predicate<JsonNode> type(String type) {
        return e -> type.equals(e.path("type").asText());
    }

    private static List<String> types(List<JsonNode> events) {
        return events.stream().map(e -> e.path("type").asText()).toList();
    }

    private static JsonNode last(List<JsonNode> events) {
        return events.get(events.size() - 1);
    }

    /** A WebSocket client of one replica, signed in as the test's admin. */
    static final class Socket extends PackagedAppHttp.Socket {
        Socket(URI base, String conversation) throws Exception {
            super(base, TOKEN, conversation);
        }
    }
}

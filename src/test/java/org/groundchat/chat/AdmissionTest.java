package org.groundchat.chat;

import static org.groundchat.security.SignedInByDefault.BOOTSTRAP_TOKEN;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

/**
 * The answer queue's limit holds under a burst: submissions that arrive together are admitted against the limit at
 * once, not after their database inserts (before, 40 simultaneous turns were all queued against a limit of 4).
 */
@QuarkusTest
@TestProfile(AdmissionTest.SmallQueue.class)
class AdmissionTest {
    static final int LIMIT = 4;
    static final int BURST = 40;

    public static class SmallQueue implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            // places are announced only when the test asks (announcePositions), never by the timer
            return Map.of("groundchat.inference.max-queue", String.valueOf(LIMIT),
                    "groundchat.inference.queue-position-interval", "1h");
        }
    }

    @TestHTTPResource("/v1/chat/completions")
    URI completions;
    @Inject
    TurnCoordinator coordinator;
    @ConfigProperty(name = "groundchat.inference.workers")
    int workers;

    private final ObjectMapper json = new ObjectMapper();
    /**
     * HTTP/1.1: a connection per request, as separate clients have. Over one HTTP/2 connection the request bodies
     * share its flow-control window and arrive one after another, so a burst was no longer a burst.
     */
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    /** A streamed "describe the image ." of the 8-object scene: the longest answer, so turns wait behind it. */
    private CompletableFuture<HttpResponse<String>> describe() throws Exception {
        String png = Base64.getEncoder().encodeToString(Files.readAllBytes(Path.of("models/default/golden/case1.png")));
        String body = "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"describe the image .\"},"
                + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64," + png + "\"}}]}]}";
        return http.sendAsync(HttpRequest.newBuilder(completions).header("Authorization", "Bearer " + BOOTSTRAP_TOKEN)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private void awaitInLine(int waiting) throws InterruptedException {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (coordinator.inLine() != waiting) {
            assertTrue(System.nanoTime() < deadline, coordinator.inLine() + " turns in line, waited for " + waiting);
            Thread.sleep(2);
        }
    }

    /** The queue places a streamed answer was told, in order. */
    private List<Integer> positions(HttpResponse<String> r) throws Exception {
        List<Integer> told = new ArrayList<>();
        for (String line : r.body().split("\n")) {
            if (!line.startsWith("data: {")) continue;
            JsonNode queued = json.readTree(line.substring(6)).path("groundchat").path("queued");
            if (queued.isInt()) told.add(queued.asInt());
        }
        return told;
    }

    /**
     * A waiting turn hears its place when it is queued and then only from announcePositions, not at every start
     * ahead of it: before, each start told every waiting turn its place, 28 events per answer with 28 waiting.
     */
    @Test
    void waitingTurnsHearTheirNewPlaceOnlyWhenItIsAnnounced() throws Exception {
        CountDownLatch[] blockers = new CountDownLatch[workers];
        CountDownLatch busy = new CountDownLatch(workers);
        for (int i = 0; i < workers; i++) { // every worker busy: the turns below wait in the queue
            CountDownLatch latch = blockers[i] = new CountDownLatch(1);
            coordinator.runOnWorker(() -> {
                busy.countDown();
                try {
                    latch.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
        }
        List<CompletableFuture<HttpResponse<String>>> turns = new ArrayList<>();
        try {
            assertTrue(busy.await(60, TimeUnit.SECONDS), "the workers are taken");
            for (int i = 1; i <= LIMIT; i++) { // the queue, in order
                turns.add(describe());
                awaitInLine(i);
            }
            blockers[0].countDown(); // the first waiting turn starts: the places behind it move up
            awaitInLine(LIMIT - 1);
            coordinator.announcePositions();
        } finally {
            for (CountDownLatch b : blockers) b.countDown();
        }
        List<List<Integer>> told = new ArrayList<>();
        for (CompletableFuture<HttpResponse<String>> f : turns) {
            HttpResponse<String> r = f.get();
            assertEquals(200, r.statusCode(), r.body());
            told.add(positions(r));
        }
        // queued at 1..4; after the first started, the other three were told 1..3 once, and nothing more
        assertEquals(List.of(List.of(1), List.of(2, 1), List.of(3, 2), List.of(4, 3)), told);
    }

    @Test
    void aBurstOfTurnsNeverQueuesMoreThanTheLimit() throws Exception {
        List<CompletableFuture<HttpResponse<String>>> burst = new ArrayList<>();
        for (int i = 0; i < BURST; i++) burst.add(describe());
        int answered = 0, busy = 0, maxPosition = 0;
        for (CompletableFuture<HttpResponse<String>> f : burst) {
            HttpResponse<String> r = f.get();
            if (r.statusCode() == 503) {
                assertEquals("server_busy", json.readTree(r.body()).path("error").path("code").asText(), r.body());
                busy++;
                continue;
            }
            assertEquals(200, r.statusCode(), r.body());
            answered++;
            for (int p : positions(r)) maxPosition = Math.max(maxPosition, p);
            assertTrue(r.body().contains("data: [DONE]"), "an admitted turn is answered: " + r.body());
        }
        assertEquals(BURST, answered + busy);
        assertTrue(busy > 0, "the burst overflows the queue");
        assertTrue(maxPosition <= LIMIT, "a queue position of " + maxPosition + " against a limit of " + LIMIT);
    }
}

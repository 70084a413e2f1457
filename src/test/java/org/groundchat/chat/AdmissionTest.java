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
            return Map.of("groundchat.inference.max-queue", String.valueOf(LIMIT));
        }
    }

    @TestHTTPResource("/v1/chat/completions")
    URI completions;

    @Test
    void aBurstOfTurnsNeverQueuesMoreThanTheLimit() throws Exception {
        ObjectMapper json = new ObjectMapper();
        String png = Base64.getEncoder().encodeToString(Files.readAllBytes(Path.of("models/default/golden/case1.png")));
        String body = "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"describe the image .\"},"
                + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64," + png + "\"}}]}]}";
        HttpClient http = HttpClient.newHttpClient();
        List<CompletableFuture<HttpResponse<String>>> burst = new ArrayList<>();
        for (int i = 0; i < BURST; i++) {
            burst.add(http.sendAsync(HttpRequest.newBuilder(completions).header("Authorization", "Bearer " + BOOTSTRAP_TOKEN)
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString()));
        }
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
            for (String line : r.body().split("\n")) {
                if (!line.startsWith("data: {")) continue;
                JsonNode queued = json.readTree(line.substring(6)).path("groundchat").path("queued");
                if (queued.isInt()) maxPosition = Math.max(maxPosition, queued.asInt());
            }
            assertTrue(r.body().contains("data: [DONE]"), "an admitted turn is answered: " + r.body());
        }
        assertEquals(BURST, answered + busy);
        assertTrue(busy > 0, "the burst overflows the queue");
        assertTrue(maxPosition <= LIMIT, "a queue position of " + maxPosition + " against a limit of " + LIMIT);
    }
}

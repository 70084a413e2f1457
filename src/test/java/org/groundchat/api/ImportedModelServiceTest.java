package org.groundchat.api;

import static io.restassured.RestAssured.given;
import static org.groundchat.api.ChatServiceTest.conversation;
import static org.groundchat.api.ChatServiceTest.turn;
import static org.groundchat.api.ChatServiceTest.upload;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.quarkus.websockets.next.BasicWebSocketConnector;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.groundchat.inference.ChatEngine;
import org.groundchat.inference.nextchat.NextChatEngine;
import org.junit.jupiter.api.Test;

/**
 * The app serves an imported NExT-Chat bundle (contract 3) picked by groundchat.model.dir alone: the tiny fabricated
 * checkpoint's import under models/import/fixtures, whose answers are random-weight noise but real boxes and masks.
 */
@QuarkusTest
@TestProfile(ImportedModelServiceTest.ImportedBundle.class)
class ImportedModelServiceTest {
    static final Path FIXTURE = Path.of("models/import/fixtures/nextchat-tiny");

    public static class ImportedBundle implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("groundchat.model.dir", FIXTURE.resolve("bundle").toString());
        }
    }

    @TestHTTPResource("/")
    URI base;
    @Inject
    Instance<BasicWebSocketConnector> connector;
    @Inject
    ChatEngine engine;

    @Test
    void theConfiguredBundlePicksTheEngineAndAnswersGroundedOverTheWebSocket() throws Exception {
        assertTrue(engine instanceof NextChatEngine, engine.getClass().getSimpleName());
        String image = upload(Files.readAllBytes(FIXTURE.resolve("image0.png")));
        String conv = conversation();
        try (WsClient ws = new WsClient(connector, base, conv)) {
            ws.send(turn("where is the dog ?", image, null));
            List<JsonNode> events = ws.untilType("done");
            JsonNode done = events.get(events.size() - 1);
            assertEquals("complete", done.path("message").path("status").asText(), done.toString());
            long regions = events.stream().filter(e -> e.path("type").asText().equals("region")).count();
            long masks = events.stream().filter(e -> e.path("type").asText().equals("mask")).count();
            assertTrue(regions > 0, "the imported model's <at> tokens became regions");
            assertEquals(regions, masks, "each region has SAM's mask");
            assertFalse(events.stream().anyMatch(e -> e.path("type").asText().equals("error")), events.toString());
        }
        JsonNode stored = ChatServiceTest.JSON.readTree(given().get("/api/conversations/" + conv).then().statusCode(200)
                .extract().asString());
        assertEquals("complete", stored.path("messages").get(1).path("status").asText());
    }

    @Test
    void theModelSaysWhatItIsAndRefusesWhatItCannotDo() throws Exception {
        given().get("/v1/models/" + engine.bundle().path("name").asText()).then().statusCode(200)
                .body("groundchat.grounding", equalTo(List.of("boxes", "masks", "user_regions")));
        // what the UI shows of the model comes from this bundle: its name and size, and no word list (a BPE
        // tokenizer spells any word, so the composer marks nothing as unknown)
        given().get("/api/model").then().statusCode(200)
                .body("name", equalTo("nextchat-tiny-fabricated"))
                .body("imageSize", equalTo(56))
                .body("parameters", equalTo(engine.bundle().path("parameters").asInt()))
                .body("words", equalTo(List.of()))
                .body("lowercase", equalTo(false));
        String image = upload(Files.readAllBytes(FIXTURE.resolve("image1.png")));
        given().post("/api/images/" + image + "/dense-captions").then().statusCode(422).body("error", equalTo("not_supported"));
    }
}

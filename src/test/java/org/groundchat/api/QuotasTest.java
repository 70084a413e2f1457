package org.groundchat.api;

import static org.groundchat.api.AccessControlTest.newUserToken;
import static org.groundchat.security.SignedInByDefault.as;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.notNullValue;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.quarkus.websockets.next.BasicWebSocketConnector;
import io.restassured.http.ContentType;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Per-account limits answer 429 with a retry time (or an error event on a socket) and store nothing. */
@QuarkusTest
@TestProfile(QuotasTest.SmallQuotas.class)
class QuotasTest {
    static final Path SMALL_IMAGE = Path.of("models/default/golden/case1.png");
    static final Path OTHER_IMAGE = Path.of("models/default/golden/case2.png");

    public static class SmallQuotas implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            try {
                return Map.of("groundchat.limits.conversations-per-minute", "3",
                        "groundchat.limits.uploads-per-minute", "3",
                        "groundchat.limits.sockets", "2",
                        "groundchat.limits.stored-bytes", String.valueOf(Files.size(SMALL_IMAGE) + Files.size(OTHER_IMAGE) - 1));
            } catch (java.io.IOException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    @TestHTTPResource("/")
    URI base;
    @Inject
    Instance<BasicWebSocketConnector> connector;

    private static int total(String token) {
        return as(token).get("/api/conversations?size=1").then().statusCode(200).extract().path("total");
    }

    @Test
    void tooManyNewConversationsAMinuteAre429WithARetryTimeAndStoreNothing() {
        String token = newUserToken("user");
        for (int i = 0; i < 3; i++) {
            as(token).contentType(ContentType.JSON).body("{}").post("/api/conversations").then().statusCode(201);
        }
        as(token).contentType(ContentType.JSON).body("{}").post("/api/conversations").then().statusCode(429)
                .header("Retry-After", notNullValue()).body("error", equalTo("rate_limited"))
                .body("retryAfter", greaterThan(0));
        assertEquals(3, total(token));
        // another account has its own allowance
        String other = newUserToken("user");
        as(other).contentType(ContentType.JSON).body("{}").post("/api/conversations").then().statusCode(201);
    }

    @Test
    void storedBytesOverTheLimitAre429AndTheImageIsNotStored() throws Exception {
        String token = newUserToken("user");
        as(token).multiPart("file", "a.png", Files.readAllBytes(SMALL_IMAGE), "image/png").post("/api/images")
                .then().statusCode(201);
        String refused = as(token).multiPart("file", "b.png", Files.readAllBytes(OTHER_IMAGE), "image/png")
                .post("/api/images").then().statusCode(429).body("error", equalTo("quota_exceeded")).extract().asString();
        // nothing of it is reachable: the same bytes from another account are a new upload for that account
        org.junit.jupiter.api.Assertions.assertFalse(refused.contains("\"id\""), refused);
    }

    @Test
    void aSocketBeyondTheAccountsLimitGetsARateLimitedEvent() throws Exception {
        String token = newUserToken("user");
        String conv = as(token).contentType(ContentType.JSON).body("{}").post("/api/conversations").then().statusCode(201)
                .extract().path("id");
        try (WsClient first = new WsClient(connector, base, conv, token);
             WsClient second = new WsClient(connector, base, conv, token);
             WsClient third = new WsClient(connector, base, conv, token)) {
            var events = third.untilType("error");
            var error = events.get(events.size() - 1);
            assertEquals("rate_limited", error.path("code").asText());
            org.junit.jupiter.api.Assertions.assertTrue(error.path("retryAfter").asInt() > 0, error.toString());
        }
        // closed sockets give their places back (the server hears of the closes a moment later)
        String code = "";
        for (int attempt = 0; attempt < 20 && !code.equals("nothing_to_cancel"); attempt++) {
            Thread.sleep(100);
            try (WsClient again = new WsClient(connector, base, conv, token)) {
                again.send("{\"type\":\"cancel\"}");
                var events = again.untilType("error");
                code = events.get(events.size() - 1).path("code").asText();
            } catch (RuntimeException closedMeanwhile) {
                code = "closed";
            }
        }
        assertEquals("nothing_to_cancel", code);
    }
}

package org.groundchat.api;

import static io.restassured.RestAssured.given;
import static org.groundchat.security.SignedInByDefault.ADMIN_PASSWORD;
import static org.groundchat.security.SignedInByDefault.anonymous;
import static org.groundchat.security.SignedInByDefault.as;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.everyItem;
import static org.hamcrest.Matchers.hasItem;
import static org.hamcrest.Matchers.not;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.websockets.next.BasicWebSocketConnector;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.Socket;
import java.net.URI;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** Nobody gets in without signing in, and nobody reaches another account's conversations, images or tokens. */
@QuarkusTest
public class AccessControlTest {
    @TestHTTPResource("/")
    URL url;
    @TestHTTPResource("/")
    URI base;
    @Inject
    Instance<BasicWebSocketConnector> connector;

    /** A new account (made by the admin) and an API token for it. */
    public static String newUserToken(String role) {
        String name = "u" + UUID.randomUUID().toString().substring(0, 8);
        given().contentType(ContentType.JSON).body("{\"username\":\"" + name + "\",\"password\":\"password-" + name
                + "\",\"role\":\"" + role + "\"}").post("/api/admin/users").then().statusCode(201);
        String cookie = login(name, "password-" + name).then().statusCode(200).extract().cookie("quarkus-credential");
        return anonymous().cookie("quarkus-credential", cookie).contentType(ContentType.JSON).body("{\"name\":\"test\"}")
                .post("/api/me/tokens").then().statusCode(201).extract().path("token");
    }

    static Response login(String username, String password) {
        return anonymous().contentType(ContentType.URLENC).formParam("j_username", username)
                .formParam("j_password", password).post("/j_security_check");
    }

    static byte[] image() throws Exception {
        return java.nio.file.Files.readAllBytes(java.nio.file.Path.of("models/default/golden/case1.png"));
    }

    @Test
    void anonymousRequestsAreRefusedExceptHealthAndTheUi() {
        anonymous().get("/api/conversations").then().statusCode(401);
        anonymous().contentType(ContentType.JSON).body("{}").post("/api/conversations").then().statusCode(401);
        anonymous().multiPart("file", "x.png", new byte[] {1}, "image/png").post("/api/images").then().statusCode(401);
        anonymous().get("/api/me").then().statusCode(401);
        anonymous().get("/api/admin/users").then().statusCode(401);
        as("gc_not-a-real-token").get("/api/conversations").then().statusCode(401);
        anonymous().get("/q/health/live").then().statusCode(200);
        anonymous().get("/index.html").then().statusCode(200);
    }

    @Test
    void anAnonymousWebSocketUpgradeIsRefused() throws Exception {
        String id = given().contentType(ContentType.JSON).body("{}").post("/api/conversations").then().statusCode(201)
                .extract().path("id");
        try (Socket s = new Socket(url.getHost(), url.getPort())) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write(("GET /ws/conversations/" + id + " HTTP/1.1\r\nHost: " + url.getHost() + "\r\n"
                    + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    + "Sec-WebSocket-Version: 13\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            String status = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII)).readLine();
            assertTrue(status.contains(" 401"), status);
        }
    }

    @Test
    void theLoginFormSetsAStrictHttpOnlySessionCookieThatSignsIn() {
        Response ok = login("admin", ADMIN_PASSWORD);
        ok.then().statusCode(200);
        String setCookie = ok.getHeaders().getValues("Set-Cookie").stream().filter(c -> c.startsWith("quarkus-credential="))
                .findFirst().orElseThrow();
        assertTrue(setCookie.toLowerCase().contains("httponly"), setCookie);
        assertTrue(setCookie.toLowerCase().contains("samesite=strict"), setCookie);
        anonymous().cookie("quarkus-credential", ok.getCookie("quarkus-credential")).get("/api/me").then().statusCode(200)
                .body("username", equalTo("admin")).body("role", equalTo("admin"));
        login("admin", "wrong-password").then().statusCode(401);
        login("nobody-" + UUID.randomUUID(), "whatever-password").then().statusCode(401);
    }

    @Test
    void anotherAccountsConversationsAndImagesAnswer404LikeUnknownIds() throws Exception {
        String alice = newUserToken("user");
        String bob = newUserToken("user");
        String image = as(alice).multiPart("file", "scene.png", image(), "image/png").post("/api/images").then()
                .statusCode(201).extract().path("id");
        String conv = as(alice).contentType(ContentType.JSON).body("{\"title\":\"alice's\",\"imageId\":\"" + image + "\"}")
                .post("/api/conversations").then().statusCode(201).extract().path("id");

        as(bob).get("/api/conversations").then().statusCode(200).body("items.id", not(hasItem(conv)));
        as(alice).get("/api/conversations").then().statusCode(200).body("items.id", hasItem(conv));
        for (String path : new String[] {"", "/export", "/export/coco"}) {
            as(bob).get("/api/conversations/" + conv + path).then().statusCode(404).body("error", equalTo("unknown_conversation"));
        }
        as(bob).contentType(ContentType.JSON).body("{\"title\":\"mine now\"}").patch("/api/conversations/" + conv)
                .then().statusCode(404).body("error", equalTo("unknown_conversation"));
        as(bob).delete("/api/conversations/" + conv).then().statusCode(404).body("error", equalTo("unknown_conversation"));
        as(bob).get("/api/images/" + image).then().statusCode(404).body("error", equalTo("unknown_image"));
        as(bob).post("/api/images/" + image + "/dense-captions?max=1").then().statusCode(404).body("error", equalTo("unknown_image"));
        as(bob).contentType(ContentType.JSON).body("{\"imageId\":\"" + image + "\"}").post("/api/conversations")
                .then().statusCode(404).body("error", equalTo("unknown_image"));
        // alice's things are untouched, and she still reaches them
        as(alice).get("/api/conversations/" + conv).then().statusCode(200).body("title", equalTo("alice's"));
        as(alice).get("/api/images/" + image).then().statusCode(200).header("Cache-Control", containsString("private"));

        // the same bytes uploaded by bob: an ordinary 201, and from then on bob may use them too
        as(bob).multiPart("file", "same.png", image(), "image/png").post("/api/images").then().statusCode(201);
        as(bob).get("/api/images/" + image).then().statusCode(200);

        // a socket on alice's conversation, signed in as bob: an error event, then the close
        try (WsClient ws = new WsClient(connector, base, conv, bob)) {
            var err = ws.untilType("error");
            assertEquals("unknown_conversation", err.get(err.size() - 1).path("code").asText());
        }
    }

    @Test
    void anOwnerDeletesAnImageOnceNoConversationShowsItAndOtherOwnersKeepIt() throws Exception {
        String alice = newUserToken("user");
        String bob = newUserToken("user");
        byte[] bytes = java.nio.file.Files.readAllBytes(java.nio.file.Path.of("models/default/golden/case3.png"));
        String image = as(alice).multiPart("file", "s.png", bytes, "image/png").post("/api/images").then().statusCode(201)
                .extract().path("id");
        as(bob).multiPart("file", "s.png", bytes, "image/png").post("/api/images").then().statusCode(201);
        String conv = as(alice).contentType(ContentType.JSON).body("{\"imageId\":\"" + image + "\"}")
                .post("/api/conversations").then().statusCode(201).extract().path("id");
        as(alice).delete("/api/images/" + image).then().statusCode(409).body("error", equalTo("image_in_use"));
        as(alice).get("/api/images/" + image).then().statusCode(200);
        as(alice).delete("/api/conversations/" + conv).then().statusCode(204);
        as(alice).delete("/api/images/" + image).then().statusCode(204);
        as(alice).get("/api/images/" + image).then().statusCode(404).body("error", equalTo("unknown_image"));
        as(bob).get("/api/images/" + image).then().statusCode(200); // bob's upload of the same bytes stays his
        as(bob).delete("/api/images/" + image).then().statusCode(204);
        as(bob).get("/api/images/" + image).then().statusCode(404);
    }

    @Test
    void refusalsOfTheSecurityLayerHaveAJsonBody() throws Exception {
        String reason = "Sign in or send Authorization: Bearer <token>.";
        for (Response r : new Response[] {
                anonymous().get("/api/conversations"),
                anonymous().contentType(ContentType.JSON).body("{}").post("/api/conversations"),
                as("gc_not-a-real-token").get("/api/me"),
                anonymous().header("Authorization", "Basic YWRtaW46dGVzdC1hZG1pbi1wYXNzd29yZA==").get("/api/me"),
                anonymous().cookie("quarkus-credential", "not-a-session").get("/api/conversations")}) {
            r.then().statusCode(401).contentType(ContentType.JSON).header("WWW-Authenticate", "Bearer")
                    .body("error", equalTo("unauthorized")).body("reason", equalTo(reason));
        }
        // OpenAI's error shape on its endpoints, which OpenAI clients read
        anonymous().get("/v1/models").then().statusCode(401).contentType(ContentType.JSON)
                .body("error.code", equalTo("unauthorized")).body("error.message", equalTo(reason))
                .body("error.type", equalTo("invalid_request_error"));
        // the browser's sign-in still answers 401 to a wrong password, and a session signs in
        login("admin", "wrong-password").then().statusCode(401);
        String evil = "https://evil.example";
        anonymous().header("Origin", evil).contentType(ContentType.JSON).body("{}").post("/api/conversations").then()
                .statusCode(403).contentType(ContentType.JSON).body("error", equalTo("forbidden_origin"))
                .body("reason", containsString("another site"));
        given().header("Origin", evil).contentType(ContentType.JSON).body("{}").post("/v1/chat/completions").then()
                .statusCode(403).body("error.code", equalTo("forbidden_origin"));
        given().header("Origin", "null").get("/api/me").then().statusCode(403).body("error", equalTo("forbidden_origin"));
        // the app's own pages pass: the same origin as the request
        String self = url.getProtocol() + "://" + url.getHost() + ":" + url.getPort();
        given().header("Origin", self).get("/api/me").then().statusCode(200);
        // a user on the admin API
        as(newUserToken("user")).get("/api/admin/users").then().statusCode(403).contentType(ContentType.JSON)
                .body("error", equalTo("forbidden")).body("reason", containsString("admin"));
    }

    static long storedImages(String id) {
        return io.quarkus.narayana.jta.QuarkusTransaction.requiringNew().call(() ->
                org.groundchat.persistence.ImageEntity.count("id", UUID.fromString(id)));
    }

    @Test
    void deletingAConversationNamesItsImagesNoOtherConversationShowsAndTheirOwnerDeletesThem() throws Exception {
        String alice = newUserToken("user");
        String bob = newUserToken("user");
        byte[] shared = java.nio.file.Files.readAllBytes(java.nio.file.Path.of("models/default/golden/case4.png"));
        byte[] own = java.nio.file.Files.readAllBytes(java.nio.file.Path.of("models/default/golden/case5.png"));
        String kept = as(alice).multiPart("file", "k.png", shared, "image/png").post("/api/images").then().statusCode(201)
                .extract().path("id");
        String single = as(alice).multiPart("file", "s.png", own, "image/png").post("/api/images").then().statusCode(201)
                .extract().path("id");
        String one = as(alice).contentType(ContentType.JSON).body("{\"imageId\":\"" + single + "\"}")
                .post("/api/conversations").then().statusCode(201).extract().path("id");
        // a second conversation that shows the first image too
        String other = as(alice).contentType(ContentType.JSON).body("{\"imageId\":\"" + kept + "\"}")
                .post("/api/conversations").then().statusCode(201).extract().path("id");
        String both = as(alice).contentType(ContentType.JSON).body("{\"imageId\":\"" + kept + "\"}")
                .post("/api/conversations").then().statusCode(201).extract().path("id");

        // without asking, the answer stays 204; with Prefer: return=representation, the images nobody else shows
        as(alice).delete("/api/conversations/" + both).then().statusCode(204);
        as(alice).header("Prefer", "return=representation").delete("/api/conversations/" + one).then().statusCode(200)
                .header("Preference-Applied", "return=representation")
                .body("deleted", equalTo(one)).body("unusedImages", equalTo(java.util.List.of(single)));
        as(alice).header("Prefer", "return=representation").delete("/api/conversations/" + other).then().statusCode(200)
                .body("unusedImages", equalTo(java.util.List.of(kept)));
        as(bob).header("Prefer", "return=representation").delete("/api/conversations/" + other).then().statusCode(404)
                .body("error", equalTo("unknown_conversation"));

        // another account cannot delete it, and hears exactly what an unknown id gets
        String unknown = UUID.randomUUID().toString();
        as(bob).delete("/api/images/" + unknown).then().statusCode(404).body("error", equalTo("unknown_image"));
        as(bob).delete("/api/images/" + single).then().statusCode(404).body("error", equalTo("unknown_image"))
                .body("reason", equalTo("No image with id '" + single + "'."));
        as(alice).get("/api/images/" + single).then().statusCode(200);
        assertEquals(1, storedImages(single));

        // its owner deletes it: the bytes are gone from the database
        as(alice).delete("/api/images/" + single).then().statusCode(204);
        as(alice).get("/api/images/" + single).then().statusCode(404).body("error", equalTo("unknown_image"));
        as(alice).delete("/api/images/" + single).then().statusCode(404).body("error", equalTo("unknown_image"));
        assertEquals(0, storedImages(single));

        // identical bytes uploaded by two accounts: deleting one's does not touch the other's
        as(bob).multiPart("file", "same.png", shared, "image/png").post("/api/images").then().statusCode(201)
                .body("id", equalTo(kept));
        as(alice).delete("/api/images/" + kept).then().statusCode(204);
        as(alice).get("/api/images/" + kept).then().statusCode(404);
        as(bob).get("/api/images/" + kept).then().statusCode(200);
        assertEquals(1, storedImages(kept));
        as(bob).delete("/api/images/" + kept).then().statusCode(204);
        assertEquals(0, storedImages(kept));
    }

    @Test
    void forceDoesNotDeleteAnImageAStoredConversationShows() throws Exception {
        String alice = newUserToken("user");
        byte[] bytes = java.nio.file.Files.readAllBytes(java.nio.file.Path.of("models/default/golden/case7.png"));
        String image = as(alice).multiPart("file", "f.png", bytes, "image/png").post("/api/images").then().statusCode(201)
                .extract().path("id");
        String conv = as(alice).contentType(ContentType.JSON).body("{\"imageId\":\"" + image + "\"}")
                .post("/api/conversations").then().statusCode(201).extract().path("id");
        as(alice).delete("/api/images/" + image + "?force=true").then().statusCode(409)
                .body("error", equalTo("image_in_use")).body("reason", containsString("force"));
        as(alice).get("/api/conversations/" + conv).then().statusCode(200);
        as(alice).get("/api/images/" + image).then().statusCode(200);
        assertEquals(1, storedImages(image));
    }

    @Test
    void deletingAnAccountDeletesTheBytesOfImagesOnlyItOwned() throws Exception {
        String name = "d" + UUID.randomUUID().toString().substring(0, 8);
        String id = given().contentType(ContentType.JSON).body("{\"username\":\"" + name + "\",\"password\":\"password-"
                + name + "\",\"role\":\"user\"}").post("/api/admin/users").then().statusCode(201).extract().path("id");
        String cookie = login(name, "password-" + name).then().statusCode(200).extract().cookie("quarkus-credential");
        // an image of its own: random pixels
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(32, 24, java.awt.image.BufferedImage.TYPE_INT_RGB);
        img.setRGB(3, 4, new java.util.Random().nextInt());
        img.setRGB(7, 9, new java.util.Random().nextInt());
        java.io.ByteArrayOutputStream png = new java.io.ByteArrayOutputStream();
        javax.imageio.ImageIO.write(img, "png", png);
        String image = anonymous().cookie("quarkus-credential", cookie).multiPart("file", "x.png", png.toByteArray(), "image/png")
                .post("/api/images").then().statusCode(201).extract().path("id");
        anonymous().cookie("quarkus-credential", cookie).contentType(ContentType.JSON)
                .body("{\"imageId\":\"" + image + "\"}").post("/api/conversations").then().statusCode(201);
        assertEquals(1, storedImages(image));
        given().delete("/api/admin/users/" + id).then().statusCode(204);
        assertEquals(0, storedImages(image));
    }

    @Test
    void aRevokedTokenStopsWorkingAtOnce() {
        String token = newUserToken("user");
        as(token).get("/api/me").then().statusCode(200);
        String id = as(token).get("/api/me/tokens").then().statusCode(200).body("prefix", everyItem(not(equalTo(token))))
                .extract().path("[0].id");
        as(token).delete("/api/me/tokens/" + id).then().statusCode(204);
        as(token).get("/api/me").then().statusCode(401);
    }

    @Test
    void theBootstrapTokenActsAsTheFirstAdmin() {
        given().get("/api/me").then().statusCode(200).body("username", equalTo("admin")).body("role", equalTo("admin"));
    }

    @Test
    void onlyAdminsManageAccountsAndADisabledAccountIsLockedOut() {
        String user = newUserToken("user");
        as(user).get("/api/admin/users").then().statusCode(403);
        String userId = as(user).get("/api/me").then().statusCode(200).extract().path("id");
        given().contentType(ContentType.JSON).body("{\"disabled\":true}").patch("/api/admin/users/" + userId)
                .then().statusCode(200).body("disabled", equalTo(true));
        as(user).get("/api/me").then().statusCode(401);
        // the last enabled admin cannot lock everyone out
        String adminId = given().get("/api/me").then().extract().path("id");
        long admins = given().get("/api/admin/users").then().statusCode(200).extract().jsonPath()
                .getList("findAll { it.role == 'admin' && !it.disabled }").size();
        if (admins == 1) {
            given().contentType(ContentType.JSON).body("{\"disabled\":true}").patch("/api/admin/users/" + adminId)
                    .then().statusCode(409).body("error", equalTo("last_admin"));
        }
    }

    @Test
    void repeatedWrongPasswordsLockTheAccountForAWhile() {
        String name = "t" + UUID.randomUUID().toString().substring(0, 8);
        given().contentType(ContentType.JSON).body("{\"username\":\"" + name + "\",\"password\":\"right-password\"}")
                .post("/api/admin/users").then().statusCode(201);
        for (int i = 0; i < 5; i++) login(name, "wrong-password-" + i).then().statusCode(401);
        login(name, "right-password").then().statusCode(401); // locked: even the right password waits
    }
}

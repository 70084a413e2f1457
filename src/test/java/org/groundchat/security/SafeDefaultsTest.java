package org.groundchat.security;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.not;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** What a page on another site can and cannot make a visitor's browser do, and the headers every page carries. */
@QuarkusTest
class SafeDefaultsTest {
    private static final String EVIL = "https://evil.example";

    @TestHTTPResource("/")
    URL base;

    private String ownOrigin() {
        return "http://" + base.getHost() + ":" + base.getPort();
    }

    private int conversationCount() {
        return given().get("/api/conversations?size=1").then().statusCode(200).extract().path("total");
    }

    @Test
    void theSessionCookieIsSecureOnlyWhenTheBrowserCameOverHttps() {
        String plain = signIn(null).toLowerCase(java.util.Locale.ROOT);
        assertTrue(plain.contains("; httponly") && plain.contains("; samesite=strict"), plain);
        assertTrue(!plain.contains("; secure"), "plain HTTP on this machine: a Secure cookie would never come back: " + plain);
        // a TLS proxy on this machine says the browser used HTTPS: the cookie must not travel in clear afterwards
        String viaTls = signIn("https").toLowerCase(java.util.Locale.ROOT);
        assertTrue(viaTls.contains("; secure"), viaTls);
    }

    private static String signIn(String forwardedProto) {
        var request = SignedInByDefault.anonymous().contentType(ContentType.URLENC).formParam("j_username", "admin")
                .formParam("j_password", SignedInByDefault.ADMIN_PASSWORD);
        if (forwardedProto != null) request = request.header("X-Forwarded-Proto", forwardedProto);
        return request.post("/j_security_check").then().statusCode(200).extract().header("Set-Cookie");
    }

    @Test
    void aCrossSiteWriteIsRefusedAndStoresNothing() {
        int before = conversationCount();
        given().header("Origin", EVIL).contentType(ContentType.JSON).body("{\"title\":\"forged\"}")
                .post("/api/conversations").then().statusCode(403);
        given().header("Origin", EVIL).multiPart("file", "x.png", new byte[] {1, 2, 3}, "image/png")
                .post("/api/images").then().statusCode(403);
        assertEquals(before, conversationCount());
    }

    @Test
    void theAppsOwnPagesAndOriginlessProgramsMayWrite() {
        given().header("Origin", ownOrigin()).contentType(ContentType.JSON).body("{\"title\":\"mine\"}")
                .post("/api/conversations").then().statusCode(201);
        given().contentType(ContentType.JSON).body("{\"title\":\"script\"}").post("/api/conversations").then().statusCode(201);
    }

    @Test
    void aCrossSiteWebSocketUpgradeIsRefused() throws Exception {
        String id = given().contentType(ContentType.JSON).body("{}").post("/api/conversations").then().statusCode(201)
                .extract().path("id");
        assertTrue(upgradeStatus(id, EVIL).contains(" 403"), "foreign origin must be refused");
        assertTrue(upgradeStatus(id, ownOrigin()).contains(" 101"), "own origin must be upgraded");
    }

    /** The status line of a raw WebSocket upgrade request (a browser always sends Origin; clients cannot fake it). */
    private String upgradeStatus(String conversationId, String origin) throws Exception {
        try (Socket s = new Socket(base.getHost(), base.getPort())) {
            s.setSoTimeout(10_000);
            String request = "GET /ws/conversations/" + conversationId + " HTTP/1.1\r\n"
                    + "Host: " + base.getHost() + ":" + base.getPort() + "\r\n"
                    + "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                    + "Authorization: Bearer " + SignedInByDefault.BOOTSTRAP_TOKEN + "\r\n"
                    + "Origin: " + origin + "\r\n\r\n";
            OutputStream out = s.getOutputStream();
            out.write(request.getBytes(StandardCharsets.US_ASCII));
            out.flush();
            return new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII)).readLine();
        }
    }

    @Test
    void theUiIsServedWithAStrictPolicyAndRevalidated() {
        given().get("/index.html").then().statusCode(200)
                .header("Content-Security-Policy", containsString("frame-ancestors 'none'"))
                .header("Content-Security-Policy", containsString("script-src 'self'"))
                .header("X-Content-Type-Options", "nosniff")
                .header("Referrer-Policy", "no-referrer")
                .header("Cache-Control", not(containsString("immutable")));
        given().get("/app.js").then().statusCode(200).header("Cache-Control", not(containsString("immutable")));
        given().get("/api/conversations?size=1").then().statusCode(200).header("X-Content-Type-Options", "nosniff");
    }
}

package org.groundchat.api;

import org.groundchat.chat.Reasons;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.groundchat.security.SignedInByDefault.BOOTSTRAP_TOKEN;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * A catalogue of bad inputs and faults (issue 12): each case names what it sends and the answer the app must give
 * (HTTP status and {@code error} code, or the WebSocket {@code error} event's code, always before any close). After
 * every case two reference conversations, made once with real model turns, must be byte-identical to their snapshot,
 * the app must be live and ready, and no reason may show a Java class name, an exception or a host and port.
 */
@QuarkusTest
class BadInputCatalogueTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    /** What an error reason must never show: Java type names, exceptions, the server's address. */
    static final Pattern LEAK = Pattern.compile("[a-z]+\\.[a-z]+\\.[A-Z]\\w+|Exception" // qualified names, exceptions
            + "|\\b[A-Z]\\w+\\.[a-z]\\w*\\(|\\b[A-Z][a-z]\\w*\\.[A-Z][A-Z_]+\\b|`[A-Z]\\w*`" // Type.method(), Type.CONSTANT, `Type`
            + "|(?i:localhost)|127\\.0\\.0\\.1|:\\d{4,5}\\b"); // the server's address
    /** What no reply at all may show (ids and numbers echoed back aside). */
    static final Pattern RAW_LEAK = Pattern.compile("[a-z]+\\.[a-z]+\\.[A-Z]\\w+|Exception|(?i:localhost)|127\\.0\\.0\\.1");
    /** One defect behind several cases: the parser's message goes into the reason with Jackson's names in it. */
    static final String JACKSON_NAMES = "the reason names Jackson internals (`JsonToken.START_ARRAY`, `Double`, "
            + "StreamReadConstraints.getMaxNestingDepth())";
    /** status of a case answered by a WebSocket error event (not an HTTP status). */
    static final int EVENT = 0;
    static final String EVIL = "https://evil.example";
    static final String NIL = "00000000-0000-0000-0000-000000000000";

    @TestHTTPResource("/")
    URI base;

    /** What a case got: HTTP status (EVENT for a socket's error event), the error code and reason, the raw reply. */
    record Outcome(int status, String code, String reason, String raw) {
        @Override
        public String toString() {
            return (status == EVENT ? "event" : String.valueOf(status)) + " " + code + " (" + reason + ") "
                    + (raw.length() > 600 ? raw.substring(0, 600) + "..." : raw);
        }
    }

    /**
     * A case: its name, what it does, the right answer. A code of null checks the status alone (the security layer's
     * 401 and 403, whose bodies are not this catalogue's subject; a duplicate upload's 201); "*" takes any error code.
     * disabled: why it is skipped, "DEFECT: ..." for what the app gets wrong today (-Dcatalogue.run-defects=true runs
     * those too) or a fix being made elsewhere.
     */
    record Case(String name, Callable<Outcome> action, int status, String code, String disabled) {}

    final List<Case> cases = new ArrayList<>();

    // the fixture, made once in catalogue()
    // X and Y: the admin's images (A shows X); other: a second account; knownUser: an account whose password is known
    String imageX, imageY, otherImage, refA, refB, empty, other, revoked, disabledToken, knownUser, userToken;
    byte[] pngX;
    final Map<String, String> snapshot = new LinkedHashMap<>();

    @TestFactory
    Stream<DynamicTest> catalogue() throws Exception {
        fixture();
        uploads();
        denseCaptionsAndImages();
        ids();
        pagination();
        jsonBodies();
        renameAndDelete();
        auth();
        openAi();
        webSocket();
        List<DynamicTest> tests = new ArrayList<>(cases.stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> run(c))).toList());
        long enabled = cases.stream().filter(c -> c.disabled() == null).count();
        tests.add(DynamicTest.dynamicTest("the catalogue holds at least 120 enabled cases (" + enabled + ")",
                () -> assertTrue(enabled >= 120, enabled + " cases")));
        return tests.stream();
    }

    private void run(Case c) throws Exception {
        // -Dcatalogue.run-defects=true runs the DEFECT cases too (to see them fail, or pass once fixed)
        boolean run = c.disabled() == null || c.disabled().startsWith("DEFECT") && Boolean.getBoolean("catalogue.run-defects");
        Assumptions.assumeTrue(run, c.disabled());
        Outcome o = c.action().call();
        String expected = (c.status() == EVENT ? "event" : String.valueOf(c.status())) + " " + c.code();
        if (c.code() == null) {
            assertEquals(c.status(), o.status(), () -> c.name() + ": got " + o);
        } else if (c.code().equals("*")) {
            assertEquals(c.status(), o.status(), () -> c.name() + ": got " + o);
            assertTrue(o.code() != null && !o.code().isBlank(), () -> c.name() + ": no error code in " + o);
        } else {
            assertEquals(expected, (o.status() == EVENT ? "event" : String.valueOf(o.status())) + " " + o.code(),
                    () -> c.name() + ": got " + o);
            assertTrue(o.reason() != null && !o.reason().isBlank(), () -> c.name() + ": no reason in " + o);
        }
        if (o.reason() != null) {
            assertFalse(LEAK.matcher(o.reason()).find(), () -> c.name() + ": the reason leaks internals: " + o.reason());
        }
        assertFalse(RAW_LEAK.matcher(o.raw()).find(),
                () -> c.name() + ": the reply leaks internals: " + o.raw());
        assertReferencesIntact(c.name());
    }

    // ---------------------------------------------------------------------------------------------------- the fixture

    private void fixture() throws Exception {
        JsonNode golden = JSON.readTree(Path.of("models/default/golden/golden.json").toFile());
        pngX = Files.readAllBytes(Path.of("models/default/golden/case6.png"));
        imageX = uploaded(upload("x.png", "image/png", pngX).send());
        imageY = uploaded(upload("y.png", "image/png", Files.readAllBytes(Path.of("models/default/golden/case1.png"))).send());
        JsonNode box = golden.path("cases").get(6).path("truth").get(0).path("box_px");

        refA = created(post("/api/conversations").json("{\"title\":\"reference A\",\"owner\":\"catalogue\",\"imageId\":\""
                + imageX + "\"}").send());
        answered(refA, "{\"type\":\"user_turn\",\"text\":\"what is this #1 ?\",\"regions\":[{\"box\":" + box + "}]}");
        answered(refA, "{\"type\":\"user_turn\",\"text\":\"where is the medium red triangle ?\"}");
        refB = created(post("/api/conversations").json("{\"title\":\"reference B\",\"imageId\":\"" + imageY + "\"}").send());
        answered(refB, "{\"type\":\"user_turn\",\"text\":\"describe the image .\"}");
        empty = created(post("/api/conversations").json("{\"title\":\"empty\"}").send());

        other = AccessControlTest.newUserToken("user");
        otherImage = uploaded(upload("o.png", "image/png", uniquePng()).as(other).send());
        revoked = AccessControlTest.newUserToken("user");
        String tokenId = JSON.readTree(get("/api/me/tokens").as(revoked).send().raw()).get(0).path("id").asText();
        assertEquals(204, delete("/api/me/tokens/" + tokenId).as(revoked).send().status());
        disabledToken = AccessControlTest.newUserToken("user");
        String disabledId = JSON.readTree(get("/api/me").as(disabledToken).send().raw()).path("id").asText();
        assertEquals(200, patch("/api/admin/users/" + disabledId).json("{\"disabled\":true}").send().status());
        knownUser = "k" + UUID.randomUUID().toString().substring(0, 8);
        assertEquals(201, post("/api/admin/users").json("{\"username\":\"" + knownUser + "\",\"password\":\"known-password\"}")
                .send().status());
        userToken = AccessControlTest.newUserToken("user"); // a plain user's token for the account API cases

        for (String ref : List.of(refA, refB)) {
            for (String path : List.of("", "/export", "/export/coco")) {
                String url = "/api/conversations/" + ref + path;
                Outcome o = get(url).send();
                assertEquals(200, o.status(), url + ": " + o);
                snapshot.put(url, o.raw());
            }
        }
        JsonNode a = JSON.readTree(snapshot.get("/api/conversations/" + refA));
        assertEquals(4, a.path("messages").size(), "reference A: two turns, " + a);
        assertTrue(a.path("messages").get(0).path("regions").size() == 1, "reference A has a drawn region: " + a);
        assertEquals(2, JSON.readTree(snapshot.get("/api/conversations/" + refB)).path("messages").size());
        snapshot.put("/api/images/" + imageX, Base64.getEncoder().encodeToString(pngX));
        assertReferencesIntact("the fixture");
    }

    /** The reference conversations' raw replies equal their snapshot, and the app is live and ready (all at once). */
    private void assertReferencesIntact(String after) throws Exception {
        Map<String, java.util.concurrent.CompletableFuture<HttpResponse<byte[]>>> replies = new LinkedHashMap<>();
        for (String path : snapshot.keySet()) replies.put(path, HTTP.sendAsync(request(path).GET().build(), HttpResponse.BodyHandlers.ofByteArray()));
        for (String probe : List.of("/q/health/live", "/q/health/ready")) {
            replies.put(probe, HTTP.sendAsync(HttpRequest.newBuilder(uri(probe)).GET().build(), HttpResponse.BodyHandlers.ofByteArray()));
        }
        for (var e : replies.entrySet()) {
            HttpResponse<byte[]> r = e.getValue().get(60, TimeUnit.SECONDS);
            String body = e.getKey().startsWith("/api/images/") ? Base64.getEncoder().encodeToString(r.body()) : new String(r.body(), UTF_8);
            assertEquals(200, r.statusCode(), after + ": " + e.getKey() + " answered " + r.statusCode() + " " + body);
            if (e.getKey().startsWith("/q/health")) {
                assertEquals("UP", JSON.readTree(body).path("status").asText(), after + ": " + e.getKey() + " " + body);
            } else {
                assertEquals(snapshot.get(e.getKey()), body, after + ": " + e.getKey() + " changed");
            }
        }
    }

    private static String uploaded(Outcome o) throws IOException {
        assertEquals(201, o.status(), "upload: " + o);
        return JSON.readTree(o.raw()).path("id").asText();
    }

    private static String created(Outcome o) throws IOException {
        assertEquals(201, o.status(), "create: " + o);
        return JSON.readTree(o.raw()).path("id").asText();
    }

    /** Runs a turn on a fresh socket and waits for its done event. */
    private void answered(String conversation, String frame) throws Exception {
        try (Ws ws = Ws.open(this, conversation, BOOTSTRAP_TOKEN, null)) {
            ws.socket.sendText(frame, true).get(10, TimeUnit.SECONDS);
            while (true) {
                JsonNode e = ws.next(Duration.ofSeconds(120));
                String type = e.path("type").asText();
                if (type.equals("done")) return;
                if (!List.of("accepted", "queued", "started", "text", "region", "mask", "point").contains(type)) {
                    fail("fixture turn " + frame + " ended with " + e);
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------ the cases

    private void add(String group, String what, int status, String code, Callable<Outcome> action) {
        cases.add(new Case(name(group, what, status, code), action, status, code, null));
    }

    /** A case that waits for a fix being made elsewhere (kept in the catalogue, skipped until then). */
    private void disabled(String group, String what, int status, String code, String why, Callable<Outcome> action) {
        cases.add(new Case(name(group, what, status, code), action, status, code, "DISABLED until " + why));
    }

    /** A case the app gets wrong today (reported, not fixed here): kept in the catalogue, skipped until fixed. */
    private void defect(String group, String what, int status, String code, String defect, Callable<Outcome> action) {
        cases.add(new Case(name(group, what, status, code), action, status, code, "DEFECT: " + defect));
    }

    private static String name(String group, String what, int status, String code) {
        String answer = status == EVENT ? "error event " + code : code == null ? String.valueOf(status)
                : code.equals("*") ? status + " with a JSON error" : status + " " + code;
        return group + ": " + what + " -> " + answer;
    }

    private void uploads() throws Exception {
        String g = "upload";
        byte[] jpeg = encode(pngX, "jpeg"), gif = encode(pngX, "gif"), bmp = encode(pngX, "bmp");
        byte[] webp;
        try (InputStream in = BadInputCatalogueTest.class.getResourceAsStream("/images/case6-lossless.webp")) {
            webp = in.readAllBytes();
        }
        add(g, "empty file", 400, "empty_file", () -> upload("e.png", "image/png", new byte[0]).send());
        add(g, "text declared as image/png", 415, "not_an_image",
                () -> upload("x.png", "image/png", "not an image".getBytes(UTF_8)).send());
        add(g, "a text file as text/plain", 415, "not_an_image",
                () -> upload("notes.txt", "text/plain", "just some notes\n".getBytes(UTF_8)).send());
        add(g, "HTML with a PNG name", 415, "not_an_image",
                () -> upload("x.png", "image/png", "<html><script>alert(1)</script></html>".getBytes(UTF_8)).send());
        add(g, "16 zero bytes", 415, "not_an_image", () -> upload("z.png", "image/png", new byte[16]).send());
        add(g, "PNG signature only", 415, "not_an_image",
                () -> upload("s.png", "image/png", Arrays.copyOf(pngX, 8)).send());
        add(g, "truncated PNG", 415, "not_an_image",
                () -> upload("t.png", "image/png", Arrays.copyOf(pngX, pngX.length / 2)).send());
        // fixed (ImageDecoder); the JDK's TIFF reader took it: 201 with "mimeType":"image/tif", a format the README does not list
        // and browsers do not show (the UI's <img> stays empty)
        add(g, "a TIFF image (not a supported format)", 415, "not_an_image",
                () -> upload("x.tiff", "image/tiff", encode(pngX, "tiff")).send());
        add(g, "PNG of 0x0 pixels", 415, "not_an_image", () -> upload("0.png", "image/png", png(0, 0, 8, 2, new byte[0])).send());
        add(g, "PNG header claiming 100000x100000", 413, "image_too_large",
                () -> upload("bomb.png", "image/png", png(100_000, 100_000, 8, 2, new byte[0])).send());
        add(g, "36-megapixel PNG of a few KB", 413, "image_too_large",
                () -> upload("big.png", "image/png", png(6000, 6000, 1, 0, new byte[6000 * 751])).send());
        add(g, "truncated JPEG", 415, "not_an_image",
                () -> upload("t.jpg", "image/jpeg", Arrays.copyOf(jpeg, jpeg.length / 2)).send());
        add(g, "JPEG start marker only", 415, "not_an_image",
                () -> upload("s.jpg", "image/jpeg", new byte[] {(byte) 0xFF, (byte) 0xD8, (byte) 0xFF}).send());
        add(g, "truncated GIF", 415, "not_an_image",
                () -> upload("t.gif", "image/gif", Arrays.copyOf(gif, gif.length / 2)).send());
        add(g, "GIF header claiming 65535x65535", 413, "image_too_large", () -> upload("bomb.gif", "image/gif", gifBomb()).send());
        add(g, "truncated BMP", 415, "not_an_image",
                () -> upload("t.bmp", "image/bmp", Arrays.copyOf(bmp, bmp.length / 2)).send());
        add(g, "BMP header claiming 50000x50000 with no pixel data", 415, "not_an_image",
                () -> upload("bomb.bmp", "image/bmp", bmpBomb()).send());
        add(g, "truncated WebP", 415, "not_an_image",
                () -> upload("t.webp", "image/webp", Arrays.copyOf(webp, webp.length / 2)).send());
        add(g, "RIFF/WEBP header with garbage", 415, "not_an_image",
                () -> upload("g.webp", "image/webp", "RIFF\u0010\0\0\0WEBPVP8 garbage!!".getBytes(UTF_8)).send());
        add(g, "no parts at all", 400, "missing_file",
                () -> post("/api/images").body("multipart/form-data; boundary=XyZ", "--XyZ--\r\n".getBytes(UTF_8)).send());
        add(g, "the image in field 'image' instead of 'file'", 400, "missing_file",
                () -> post("/api/images").multipart("image", "x.png", "image/png", pngX).send());
        add(g, "not multipart (JSON)", 415, "unsupported_media_type",
                () -> post("/api/images").json("{\"file\":\"x\"}").send());
        add(g, "not multipart (raw PNG bytes)", 415, "unsupported_media_type",
                () -> post("/api/images").body("image/png", pngX).send());
        add(g, "without signing in", 401, null, () -> upload("x.png", "image/png", pngX).anonymous().send());
        add(g, "from another site's page (Origin)", 403, null,
                () -> upload("x.png", "image/png", pngX).header("Origin", EVIL).send());
        add(g, "the same bytes again", 201, null, () -> {
            Outcome o = upload("again.png", "image/png", pngX).send();
            assertEquals(imageX, JSON.readTree(o.raw()).path("id").asText(), "the same bytes give the same id: " + o);
            return o;
        });
        add(g, "a body over 28 MB", 413, "too_large",
                () -> upload("huge.png", "image/png", new byte[29 * 1024 * 1024]).send());
    }

    private void denseCaptionsAndImages() {
        String g = "dense captions";
        String captions = "/api/images/" + imageX + "/dense-captions";
        add(g, "max=0", 400, "invalid_max", () -> post(captions + "?max=0").send());
        add(g, "max=33", 400, "invalid_max", () -> post(captions + "?max=33").send());
        add(g, "max=-1", 400, "invalid_max", () -> post(captions + "?max=-1").send());
        add(g, "max=abc", 400, "invalid_max", () -> post(captions + "?max=abc").send());
        add(g, "max=1.5", 400, "invalid_max", () -> post(captions + "?max=1.5").send());
        add(g, "max=99999999999999999999", 400, "invalid_max", () -> post(captions + "?max=99999999999999999999").send());
        add(g, "unknown image", 404, "unknown_image", () -> post("/api/images/" + NIL + "/dense-captions?max=1").send());
        add(g, "malformed image id", 404, "unknown_image", () -> post("/api/images/not-a-uuid/dense-captions").send());
        add(g, "another account's image", 404, "unknown_image",
                () -> post("/api/images/" + otherImage + "/dense-captions?max=1").send());

        g = "images";
        add(g, "GET a malformed id", 404, "unknown_image", () -> get("/api/images/not-a-uuid").send());
        add(g, "GET an unknown id", 404, "unknown_image", () -> get("/api/images/" + NIL).send());
        add(g, "GET another account's image", 404, "unknown_image", () -> get("/api/images/" + otherImage).send());
        add(g, "GET ..%2F..%2Fetc%2Fpasswd", 404, "unknown_image", () -> get("/api/images/..%2F..%2Fetc%2Fpasswd").send());
        add(g, "DELETE the reference image while its conversation shows it", 409, "image_in_use",
                () -> delete("/api/images/" + imageX).send());
        add(g, "DELETE another account's image", 404, "unknown_image", () -> delete("/api/images/" + otherImage).send());
        add(g, "DELETE a malformed id", 404, "unknown_image", () -> delete("/api/images/1%27%20OR%20%271%27%3D%271").send());
    }

    private void ids() {
        String g = "ids";
        String c = "/api/conversations/";
        add(g, "malformed conversation id", 404, "unknown_conversation", () -> get(c + "not-a-uuid").send());
        add(g, "unknown conversation id", 404, "unknown_conversation", () -> get(c + NIL).send());
        add(g, "UUID with one digit too many", 404, "unknown_conversation", () -> get(c + refA + "0").send());
        add(g, "UUID without dashes", 404, "unknown_conversation", () -> get(c + refA.replace("-", "")).send());
        add(g, "path traversal ..%2F..%2Fadmin%2Fusers", 404, "unknown_conversation", () -> get(c + "..%2F..%2Fadmin%2Fusers").send());
        add(g, "path traversal %2e%2e%2f%2e%2e%2fme", 404, "unknown_conversation", () -> get(c + "%2e%2e%2f%2e%2e%2fme").send());
        add(g, "SQL injection ' OR '1'='1", 404, "unknown_conversation", () -> get(c + "%27%20OR%20%271%27%3D%271").send());
        add(g, "SQL injection ;DROP TABLE", 404, "unknown_conversation",
                () -> get(c + refA + "%3BDROP%20TABLE%20conversations%3B--").send());
        add(g, "percent-encoded NUL", 404, "unknown_conversation", () -> get(c + "%00").send());
        add(g, "a 2000-character id", 404, "unknown_conversation", () -> get(c + "a".repeat(2000)).send());
        add(g, "export of an unknown id", 404, "unknown_conversation", () -> get(c + NIL + "/export").send());
        add(g, "COCO export of a malformed id", 404, "unknown_conversation", () -> get(c + "nope/export/coco").send());
        add(g, "cancel in an unknown conversation", 404, "unknown_conversation", () -> post(c + NIL + "/cancel").send());
        add(g, "another account's conversation: GET", 404, "unknown_conversation", () -> get(c + refA).as(other).send());
        add(g, "another account's conversation: export", 404, "unknown_conversation",
                () -> get(c + refA + "/export").as(other).send());
        add(g, "another account's conversation: COCO export", 404, "unknown_conversation",
                () -> get(c + refB + "/export/coco").as(other).send());
        add(g, "another account's conversation: rename", 404, "unknown_conversation",
                () -> patch(c + refA).json("{\"title\":\"mine now\"}").as(other).send());
        add(g, "another account's conversation: DELETE", 404, "unknown_conversation", () -> delete(c + refA).as(other).send());
        add(g, "another account's conversation: cancel", 404, "unknown_conversation",
                () -> post(c + refA + "/cancel").as(other).send());
        add(g, "a conversation with another account's image", 404, "unknown_image",
                () -> post("/api/conversations").json("{\"imageId\":\"" + imageX + "\"}").as(other).send());
        add(g, "an unknown route under /api", 404, "not_found", () -> get("/api/nothing-here").send());
        add(g, "PUT on a conversation", 405, "method_not_allowed", () -> req("PUT", c + refA).json("{\"title\":\"x\"}").send());
        add(g, "DELETE on the conversation list", 405, "method_not_allowed", () -> delete("/api/conversations").send());
    }

    private void pagination() {
        String g = "pagination";
        String[][] bad = {
                {"page=-1", "invalid_page"}, {"page=2147483647", "invalid_page"}, {"page=abc", "invalid_page"},
                {"page=1.5", "invalid_page"}, {"page=1e3", "invalid_page"}, {"page=0x10", "invalid_page"},
                {"page=99999999999999999999", "invalid_page"}, {"page=%00", "invalid_page"},
                {"size=0", "invalid_size"}, {"size=-5", "invalid_size"}, {"size=201", "invalid_size"},
                {"size=abc", "invalid_size"}, {"size=2.5", "invalid_size"}, {"size=2147483648", "invalid_size"},
        };
        for (String[] b : bad) add(g, b[0], 400, b[1], () -> get("/api/conversations?" + b[0]).send());
    }

    private void jsonBodies() {
        String g = "create";
        String c = "/api/conversations";
        add(g, "malformed JSON", 400, "invalid_json", () -> post(c).json("{\"title\": ").send());
        add(g, "not JSON at all", 400, "invalid_json", () -> post(c).json("hello").send());
        add(g, "single-quoted JSON", 400, "invalid_json", () -> post(c).json("{'title': 'x'}").send());
        add(g, "JSON with a comment", 400, "invalid_json", () -> post(c).json("{/* c */ \"title\": \"x\"}").send());
        // fixed (Reasons.fromParser); the reason read "Cannot deserialize value of type a value from Array
        // value (token `JsonToken.START_ARRAY`)" (and the like for the cases marked JACKSON_NAMES)
        add(g, "a JSON array", 400, "invalid_json", () -> post(c).json("[1, 2, 3]").send());
        add(g, "a JSON string", 400, "invalid_json", () -> post(c).json("\"title\"").send());
        add(g, "a JSON number", 400, "invalid_json", () -> post(c).json("42").send());
        add(g, "title is an object", 400, "invalid_json", () -> post(c).json("{\"title\": {\"nested\": [1, 2]}}").send());
        add(g, "title is an array", 400, "invalid_json", () -> post(c).json("{\"title\": [\"a\"]}").send());
        add(g, "title nested 5000 arrays deep", 400, "invalid_json",
                () -> post(c).json("{\"title\": " + "[".repeat(5000) + "]".repeat(5000) + "}").send());
        // fixed (Reasons.fromParser); 400 invalid_json, the reason named Jackson's internals: "Document nesting depth (1001) exceeds the
        // maximum allowed (1000, from `StreamReadConstraints.getMaxNestingDepth()`)"
        add(g, "objects nested 5000 deep", 400, "invalid_json",
                () -> post(c).json("{\"a\":".repeat(5000) + "1" + "}".repeat(5000)).send());
        add(g, "invalid UTF-8 bytes", 400, "invalid_json",
                () -> post(c).body("application/json", new byte[] {'{', '"', 't', '"', ':', '"', (byte) 0xFF, (byte) 0xFE, '"', '}'}).send());
        add(g, "a title of a million characters", 400, "invalid_title",
                () -> post(c).json("{\"title\": \"" + "t".repeat(1_000_000) + "\"}").send());
        add(g, "a title of 501 characters", 400, "invalid_title", () -> post(c).json("{\"title\": \"" + "t".repeat(501) + "\"}").send());
        add(g, "NUL in the title", 400, "invalid_title", () -> post(c).json("{\"title\": \"a\\u0000b\"}").send());
        add(g, "escape character in the title", 400, "invalid_title", () -> post(c).json("{\"title\": \"a\\u001b[31mb\"}").send());
        add(g, "NUL in the owner", 400, "invalid_owner", () -> post(c).json("{\"title\": \"ok\", \"owner\": \"x\\u0000\"}").send());
        add(g, "an owner of 201 characters", 400, "invalid_owner",
                () -> post(c).json("{\"owner\": \"" + "o".repeat(201) + "\"}").send());
        add(g, "malformed imageId", 404, "unknown_image", () -> post(c).json("{\"imageId\": \"../etc/passwd\"}").send());
        add(g, "unknown imageId", 404, "unknown_image", () -> post(c).json("{\"imageId\": \"" + NIL + "\"}").send());
        add(g, "imageId of another account's image", 404, "unknown_image",
                () -> post(c).json("{\"imageId\": \"" + otherImage + "\"}").send());
        add(g, "JSON sent as text/plain", 415, "unsupported_media_type",
                () -> post(c).body("text/plain", "{\"title\":\"x\"}".getBytes(UTF_8)).send());
        add(g, "XML", 415, "unsupported_media_type",
                () -> post(c).body("application/xml", "<title>x</title>".getBytes(UTF_8)).send());
        add(g, "form-encoded", 415, "unsupported_media_type",
                () -> post(c).body("application/x-www-form-urlencoded", "title=x".getBytes(UTF_8)).send());
    }

    private void renameAndDelete() {
        String g = "rename";
        String a = "/api/conversations/" + refA;
        add(g, "empty body", 400, "invalid_title", () -> patch(a).json("").send());
        add(g, "empty title", 400, "invalid_title", () -> patch(a).json("{\"title\": \"\"}").send());
        add(g, "whitespace title", 400, "invalid_title", () -> patch(a).json("{\"title\": \" \\t\\n \"}").send());
        add(g, "null title", 400, "invalid_title", () -> patch(a).json("{\"title\": null}").send());
        add(g, "no title field", 400, "invalid_title", () -> patch(a).json("{\"name\": \"x\"}").send());
        add(g, "NUL in the title", 400, "invalid_title", () -> patch(a).json("{\"title\": \"bad\\u0000\"}").send());
        add(g, "line break in the title", 400, "invalid_title", () -> patch(a).json("{\"title\": \"two\\nlines\"}").send());
        add(g, "a title of 501 characters", 400, "invalid_title", () -> patch(a).json("{\"title\": \"" + "t".repeat(501) + "\"}").send());
        add(g, "malformed JSON", 400, "invalid_json", () -> patch(a).json("{\"title\"").send());
        add(g, "title is a list", 400, "invalid_json", () -> patch(a).json("{\"title\": [1]}").send());
        add(g, "text/plain body", 415, "unsupported_media_type",
                () -> patch(a).body("text/plain", "{\"title\":\"x\"}".getBytes(UTF_8)).send());
        add(g, "unknown conversation", 404, "unknown_conversation",
                () -> patch("/api/conversations/" + NIL).json("{\"title\": \"x\"}").send());

        g = "delete";
        add(g, "unknown conversation", 404, "unknown_conversation", () -> delete("/api/conversations/" + NIL).send());
        add(g, "malformed id", 404, "unknown_conversation", () -> delete("/api/conversations/..%2F" + refA).send());
    }

    private void auth() {
        String g = "auth";
        add(g, "no token", 401, null, () -> get("/api/conversations").anonymous().send());
        add(g, "a made-up token", 401, null, () -> get("/api/conversations").as("gc_not-a-real-token").send());
        add(g, "an empty bearer token", 401, null, () -> get("/api/conversations").header("Authorization", "Bearer ").send());
        add(g, "Basic credentials", 401, null,
                () -> get("/api/conversations").header("Authorization", "Basic YWRtaW46dGVzdC1hZG1pbi1wYXNzd29yZA==").send());
        add(g, "a revoked token", 401, null, () -> get("/api/conversations").as(revoked).send());
        add(g, "a disabled account's token", 401, null, () -> get("/api/me").as(disabledToken).send());
        add(g, "DELETE a reference conversation without signing in", 401, null,
                () -> delete("/api/conversations/" + refA).anonymous().send());
        add(g, "a wrong password at login", 401, null, () -> post("/j_security_check").anonymous()
                .body("application/x-www-form-urlencoded", ("j_username=" + knownUser + "&j_password=wrong-password").getBytes(UTF_8))
                .send());
        add(g, "a user on the admin API", 403, null, () -> get("/api/admin/users").as(other).send());
        add(g, "cross-origin create", 403, null,
                () -> post("/api/conversations").json("{\"title\":\"forged\"}").header("Origin", EVIL).send());
        add(g, "cross-origin rename of a reference conversation", 403, null,
                () -> patch("/api/conversations/" + refA).json("{\"title\":\"forged\"}").header("Origin", EVIL).send());
        add(g, "cross-origin DELETE of a reference conversation", 403, null,
                () -> delete("/api/conversations/" + refB).header("Origin", EVIL).send());
        add(g, "cross-origin completion", 403, null,
                () -> post("/v1/chat/completions").json("{\"messages\":[]}").header("Origin", EVIL).send());
        add(g, "password change with a wrong current password", 403, "wrong_password", () -> req("PUT", "/api/me/password")
                .json("{\"currentPassword\":\"not-it-at-all\",\"newPassword\":\"long-enough-password\"}").as(userToken).send());
        add(g, "password change with an empty body", 400, "invalid_password",
                () -> req("PUT", "/api/me/password").json("").as(userToken).send());
        add(g, "a token name of 101 characters", 400, "invalid_name",
                () -> post("/api/me/tokens").json("{\"name\":\"" + "n".repeat(101) + "\"}").as(userToken).send());
        add(g, "revoke a malformed token id", 404, "unknown_token", () -> delete("/api/me/tokens/not-a-uuid").as(userToken).send());
        add(g, "revoke an unknown token", 404, "unknown_token", () -> delete("/api/me/tokens/" + NIL).as(userToken).send());
        add(g, "new user with a bad username", 400, "invalid_username",
                () -> post("/api/admin/users").json("{\"username\":\"bad name!\",\"password\":\"long-enough\"}").send());
        add(g, "new user with NUL in the username", 400, "invalid_username",
                () -> post("/api/admin/users").json("{\"username\":\"a\\u0000b\",\"password\":\"long-enough\"}").send());
        add(g, "new user with a short password", 400, "invalid_password",
                () -> post("/api/admin/users").json("{\"username\":\"shorty\",\"password\":\"short\"}").send());
        add(g, "new user with role root", 400, "invalid_role",
                () -> post("/api/admin/users").json("{\"username\":\"rooty\",\"password\":\"long-enough\",\"role\":\"root\"}").send());
        add(g, "new user named admin", 409, "username_taken",
                () -> post("/api/admin/users").json("{\"username\":\"admin\",\"password\":\"long-enough\"}").send());
        add(g, "update an unknown account", 404, "unknown_account",
                () -> patch("/api/admin/users/" + NIL).json("{\"disabled\":true}").send());
        add(g, "update a malformed account id", 404, "unknown_account",
                () -> patch("/api/admin/users/x").json("{\"disabled\":true}").send());
    }

    private void openAi() {
        String g = "openai";
        String img = "data:image/png;base64," + Base64.getEncoder().encodeToString(pngX);
        String user = "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"where is it ?\"},"
                + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + img + "\"}}]}";
        add(g, "empty body", 400, "invalid_json", () -> completion(""));
        add(g, "malformed JSON", 400, "invalid_json", () -> completion("{\"messages\": ["));
        add(g, "a JSON array", 400, "invalid_json", () -> completion("[]"));
        add(g, "no messages", 400, "missing_required_parameter", () -> completion("{\"model\":\"groundchat\"}"));
        add(g, "messages is a string", 400, "invalid_value", () -> completion("{\"messages\":\"hi\"}"));
        add(g, "messages is empty", 400, "invalid_value", () -> completion("{\"messages\":[]}"));
        add(g, "a message that is a number", 400, "invalid_type", () -> completion("{\"messages\":[42]}"));
        add(g, "role wizard", 400, "invalid_value", () -> completion("{\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}"));
        add(g, "no role", 400, "missing_required_parameter", () -> completion("{\"messages\":[{\"content\":\"hi\"}]}"));
        add(g, "no content", 400, "missing_required_parameter", () -> completion("{\"messages\":[{\"role\":\"user\"}]}"));
        add(g, "content is a number", 400, "invalid_type", () -> completion("{\"messages\":[{\"role\":\"user\",\"content\":7}]}"));
        add(g, "the last message from the assistant", 400, "invalid_value",
                () -> completion("{\"messages\":[" + user + ",{\"role\":\"assistant\",\"content\":\"ok\"}]}"));
        add(g, "only a system message", 400, "invalid_value",
                () -> completion("{\"messages\":[{\"role\":\"system\",\"content\":\"be nice\"}]}"));
        add(g, "two user messages in a row", 400, "invalid_value", () -> completion("{\"messages\":[" + user + "," + user + "]}"));
        add(g, "a content part of type audio", 400, "invalid_value",
                () -> completion("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"audio\"}]}]}"));
        add(g, "a remote image URL", 400, "unsupported_image_url", () -> completion(withImage("https://example.com/cat.png")));
        add(g, "a data URL that is not base64", 400, "invalid_image_url", () -> completion(withImage("data:image/png,abc")));
        add(g, "a data URL with broken base64", 400, "invalid_image_url", () -> completion(withImage("data:image/png;base64,!!!")));
        add(g, "an image_url without url", 400, "missing_required_parameter", () -> completion(withImage("")));
        add(g, "base64 that is not an image", 415, "not_an_image",
                () -> completion(withImage("data:image/png;base64," + Base64.getEncoder().encodeToString("hello".getBytes(UTF_8)))));
        // fixed (OpenAiException.of); a client's bad image (415) was typed "server_error" in OpenAI's error shape (OpenAiException.of maps only
        // 400/413/422 to invalid_request_error): {"error":{"message":"The file is not an image ...","type":"server_error",...}}
        add(g, "base64 that is not an image: the error's type", 415, "invalid_request_error",
                () -> {
                    Outcome o = completion(withImage("data:image/png;base64," + Base64.getEncoder().encodeToString("hello".getBytes(UTF_8))));
                    return new Outcome(o.status(), JSON.readTree(o.raw()).path("error").path("type").asText(), o.reason(), o.raw());
                });
        add(g, "two images in one message", 400, "too_many_images", () -> completion("{\"messages\":[{\"role\":\"user\",\"content\":["
                + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + img + "\"}},"
                + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + img + "\"}},{\"type\":\"text\",\"text\":\"hi\"}]}]}"));
        add(g, "an image in an assistant message", 400, "invalid_value", () -> completion("{\"messages\":[" + user
                + ",{\"role\":\"assistant\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + img + "\"}}]},"
                + user + "]}"));
        add(g, "the first message without an image", 400, "image_required",
                () -> completion("{\"messages\":[{\"role\":\"user\",\"content\":\"where is it ?\"}]}"));
        add(g, "empty text", 400, "empty_text", () -> completion("{\"messages\":[{\"role\":\"user\",\"content\":\"  \"}]}"));
        add(g, "NUL in the text", 400, "invalid_text",
                () -> completion("{\"messages\":[{\"role\":\"user\",\"content\":\"where\\u0000 is it ?\"}]}"));
        add(g, "text of 2001 characters", 400, "text_too_long",
                () -> completion("{\"messages\":[{\"role\":\"user\",\"content\":\"" + "w".repeat(2001) + "\"}]}"));
        add(g, "model gpt-4o", 404, "model_not_found", () -> completion("{\"model\":\"gpt-4o\",\"messages\":[" + user + "]}"));
        add(g, "GET /v1/models/gpt-4o", 404, "model_not_found", () -> get("/v1/models/gpt-4o").send());
        add(g, "model is a number", 400, "invalid_type", () -> completion("{\"model\":4,\"messages\":[" + user + "]}"));
        add(g, "n=2", 400, "unsupported_parameter", () -> completion("{\"n\":2,\"messages\":[" + user + "]}"));
        add(g, "tools", 400, "unsupported_parameter",
                () -> completion("{\"tools\":[{\"type\":\"function\"}],\"messages\":[" + user + "]}"));
        add(g, "response_format", 400, "unsupported_parameter",
                () -> completion("{\"response_format\":{\"type\":\"json_object\"},\"messages\":[" + user + "]}"));
        add(g, "stream is a string", 400, "invalid_type", () -> completion("{\"stream\":\"yes\",\"messages\":[" + user + "]}"));
        add(g, "stream is a number", 400, "invalid_type", () -> completion("{\"stream\":1,\"messages\":[" + user + "]}"));
        add(g, "stream=true without messages (a JSON error, not a stream)", 400, "missing_required_parameter",
                () -> completion("{\"stream\":true,\"stream_options\":{\"include_usage\":true}}"));
        add(g, "temperature 3", 400, "invalid_value", () -> completion("{\"temperature\":3,\"messages\":[" + user + "]}"));
        add(g, "temperature is a string", 400, "invalid_value", () -> completion("{\"temperature\":\"hot\",\"messages\":[" + user + "]}"));
        add(g, "top_p 0", 400, "invalid_value", () -> completion("{\"top_p\":0,\"messages\":[" + user + "]}"));
        add(g, "max_tokens 1000", 400, "invalid_value", () -> completion("{\"max_tokens\":1000,\"messages\":[" + user + "]}"));
        add(g, "max_tokens 0", 400, "invalid_value", () -> completion("{\"max_tokens\":0,\"messages\":[" + user + "]}"));
        add(g, "max_completion_tokens 1.5", 400, "invalid_type",
                () -> completion("{\"max_completion_tokens\":1.5,\"messages\":[" + user + "]}"));
        add(g, "seed is a string", 400, "invalid_type", () -> completion("{\"seed\":\"abc\",\"messages\":[" + user + "]}"));
        add(g, "continuing an unknown conversation", 404, "unknown_conversation",
                () -> post("/v1/chat/completions").json("{\"messages\":[" + user + "]}").header("X-GroundChat-Conversation", NIL).send());
        add(g, "continuing a malformed conversation_id", 404, "unknown_conversation",
                () -> completion("{\"conversation_id\":\"../../etc\",\"messages\":[" + user + "]}"));
        add(g, "continuing another account's conversation", 404, "unknown_conversation",
                () -> post("/v1/chat/completions").json("{\"messages\":[{\"role\":\"user\",\"content\":\"what is [1] ?\"}]}")
                        .header("X-GroundChat-Conversation", refA).as(other).send());
        add(g, "continuing a reference conversation with an unknown region [99]", 404, "unknown_region",
                () -> post("/v1/chat/completions").json("{\"messages\":[{\"role\":\"user\",\"content\":\"what is [99] ?\"}]}")
                        .header("X-GroundChat-Conversation", refA).send());
        add(g, "without signing in", 401, null, () -> post("/v1/chat/completions").json("{\"messages\":[" + user + "]}").anonymous().send());
    }

    private void webSocket() {
        String g = "ws";
        String drawn = "{\"type\":\"user_turn\",\"text\":\"what is this #1 ?\",\"regions\":";
        Object[][] frames = {
                {"not JSON", "this is not json", "invalid_frame"},
                {"an empty frame", "", "invalid_frame"},
                {"a JSON array", "[1,2]", "invalid_frame"},
                {"JSON null", "null", "invalid_frame"},
                {"a JSON string", "\"user_turn\"", "invalid_frame"},
                {"truncated JSON", "{\"type\":\"user_turn\",\"text\":\"hi", "invalid_frame"},
                {"no type", "{\"text\":\"where is it ?\"}", "unknown_type"},
                {"type dance", "{\"type\":\"dance\"}", "unknown_type"},
                {"type is a number", "{\"type\":5}", "unknown_type"},
                {"a frame over 64 KiB", "{\"type\":\"user_turn\",\"text\":\"" + "x".repeat(70_000) + "\"}", "frame_too_large"},
                {"a binary frame", new byte[] {1, 2, 3}, "binary_not_supported"},
                {"cancel with nothing running", "{\"type\":\"cancel\"}", "nothing_to_cancel"},
                {"user_turn without text", "{\"type\":\"user_turn\"}", "empty_text"},
                {"user_turn with empty text", "{\"type\":\"user_turn\",\"text\":\"\"}", "empty_text"},
                {"user_turn with whitespace text", "{\"type\":\"user_turn\",\"text\":\" \\n\\t \"}", "empty_text"},
                {"user_turn with 2001 characters", "{\"type\":\"user_turn\",\"text\":\"" + "x".repeat(2001) + "\"}", "text_too_long"},
                {"user_turn with more words than the context holds", "{\"type\":\"user_turn\",\"text\":\"where is the "
                        + "small red star and ".repeat(80) + "?\"}", "text_too_long"},
                {"user_turn text with NUL", "{\"type\":\"user_turn\",\"text\":\"where is the red\\u0000 star ?\"}", "invalid_text"},
                {"user_turn text with a bell character", "{\"type\":\"user_turn\",\"text\":\"ding\\u0007 ?\"}", "invalid_text"},
                {"user_turn text with DEL", "{\"type\":\"user_turn\",\"text\":\"x\\u007f ?\"}", "invalid_text"},
                {"a box with a bare NaN", drawn + "[{\"box\":[NaN,1,20,20]}]}", "invalid_frame"},
                {"a box with \"NaN\"", drawn + "[{\"box\":[\"NaN\",1,20,20]}]}", "invalid_region"},
                {"a box with 1e999", drawn + "[{\"box\":[1,1,1e999,20]}]}", "invalid_region"},
                {"a box of three numbers", drawn + "[{\"box\":[1,2,3]}]}", "invalid_region"},
                {"a box with null", drawn + "[{\"box\":[1,null,3,4]}]}", "invalid_region"},
                {"a region without box", drawn + "[{}]}", "invalid_region"},
                {"a null region", drawn + "[null]}", "invalid_region"},
                {"a negative box", drawn + "[{\"box\":[-5,10,50,50]}]}", "invalid_region"},
                {"a box outside the image", drawn + "[{\"box\":[10,10,5000,20]}]}", "invalid_region"},
                {"a zero-area box", drawn + "[{\"box\":[10,10,10,50]}]}", "invalid_region"},
                {"an inverted box", drawn + "[{\"box\":[30,30,10,10]}]}", "invalid_region"},
                {"17 regions", drawn + "[" + String.join(",", java.util.Collections.nCopies(17, "{\"box\":[1,1,10,10]}")) + "]}",
                        "too_many_regions"},
                {"#2 with one region drawn", "{\"type\":\"user_turn\",\"text\":\"what is #2 ?\",\"regions\":[{\"box\":[1,1,20,20]}]}",
                        "invalid_region_reference"},
                {"#0", "{\"type\":\"user_turn\",\"text\":\"what is #0 ?\"}", "invalid_region_reference"},
                {"[99], a region that does not exist", "{\"type\":\"user_turn\",\"text\":\"what is [99] ?\"}", "unknown_region"},
                {"[1] asked about another image", "{\"type\":\"user_turn\",\"text\":\"what is [1] ?\",\"imageId\":\"" + imageY + "\"}",
                        "region_on_other_image"},
                {"a malformed imageId", "{\"type\":\"user_turn\",\"text\":\"hi\",\"imageId\":\"../x\"}", "unknown_image"},
                {"an unknown imageId", "{\"type\":\"user_turn\",\"text\":\"hi\",\"imageId\":\"" + NIL + "\"}", "unknown_image"},
                {"another account's imageId", "{\"type\":\"user_turn\",\"text\":\"hi\",\"imageId\":\"" + otherImage + "\"}",
                        "unknown_image"},
                {"temperature 9", "{\"type\":\"user_turn\",\"text\":\"hi\",\"options\":{\"temperature\":9}}", "invalid_options"},
                {"topP 0", "{\"type\":\"user_turn\",\"text\":\"hi\",\"options\":{\"topP\":0}}", "invalid_options"},
                {"maxTokens 1000", "{\"type\":\"user_turn\",\"text\":\"hi\",\"options\":{\"maxTokens\":1000}}", "invalid_options"},
                {"topK -1", "{\"type\":\"user_turn\",\"text\":\"hi\",\"options\":{\"topK\":-1}}", "invalid_options"},
                {"options is a string", "{\"type\":\"user_turn\",\"text\":\"hi\",\"options\":\"fast\"}", "invalid_frame"},
        };
        for (Object[] f : frames) {
            add(g, f[0] + " (reference conversation)", EVENT, (String) f[2], () -> ws(refA, BOOTSTRAP_TOKEN, f[1]));
        }
        // fixed (Reasons.fromParser), was: "The user_turn frame is malformed: Cannot deserialize value of type a value from String
        // value (token `JsonToken.VALUE_STRING`)"; "... from String \"a\": not a valid `Double` value"
        Object[][] jacksonNames = {
                {"user_turn text is a list", "{\"type\":\"user_turn\",\"text\":[\"a\"]}"},
                {"regions is a string", "{\"type\":\"user_turn\",\"text\":\"hi\",\"regions\":\"not a list\"}"},
                {"a box of strings", drawn + "[{\"box\":[\"a\",\"b\",\"c\",\"d\"]}]}"},
        };
        for (Object[] f : jacksonNames) {
            add(g, f[0] + " (reference conversation)", EVENT, "invalid_frame", () -> ws(refA, BOOTSTRAP_TOKEN, f[1]));
        }
        add(g, "user_turn in a conversation without an image", EVENT, "image_required",
                () -> ws(empty, BOOTSTRAP_TOKEN, "{\"type\":\"user_turn\",\"text\":\"where is the red star ?\"}"));
        add(g, "regenerate with nothing to regenerate", EVENT, "nothing_to_regenerate",
                () -> ws(empty, BOOTSTRAP_TOKEN, "{\"type\":\"regenerate\"}"));
        add(g, "connect to an unknown conversation", EVENT, "unknown_conversation", () -> ws(NIL, BOOTSTRAP_TOKEN, null));
        add(g, "connect to a malformed conversation id", EVENT, "unknown_conversation", () -> ws("not-a-uuid", BOOTSTRAP_TOKEN, null));
        add(g, "connect to ' OR '1'='1", EVENT, "unknown_conversation", () -> ws("%27%20OR%20%271%27%3D%271", BOOTSTRAP_TOKEN, null));
        add(g, "connect to another account's conversation", EVENT, "unknown_conversation", () -> ws(refA, other, null));
        add(g, "upgrade without a token", 401, null, () -> ws(refA, null, null));
        add(g, "upgrade with a made-up token", 401, null, () -> ws(refA, "gc_not-a-real-token", null));
        add(g, "upgrade with a revoked token", 401, null, () -> ws(refA, revoked, null));
        add(g, "upgrade from another site's page (Origin)", 403, null, () -> ws(refA, BOOTSTRAP_TOKEN, null, EVIL));
        add(g, "a text frame over 1 MiB (reference conversation)", EVENT, "frame_too_large",
                () -> ws(refA, BOOTSTRAP_TOKEN, "x".repeat(1024 * 1024 + 16)));
    }

    // ---------------------------------------------------------------------------------------------------------- HTTP

    URI uri(String path) {
        String origin = base.toString().replaceAll("/+$", "");
        return URI.create(origin + path);
    }

    HttpRequest.Builder request(String path) {
        return HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(60)).header("Authorization", "Bearer " + BOOTSTRAP_TOKEN);
    }

    Req req(String method, String path) { return new Req(method, path); }

    Req get(String path) { return req("GET", path); }

    Req post(String path) { return req("POST", path); }

    Req patch(String path) { return req("PATCH", path); }

    Req delete(String path) { return req("DELETE", path); }

    Req upload(String filename, String partType, byte[] bytes) {
        return post("/api/images").multipart("file", filename, partType, bytes);
    }

    Outcome completion(String body) throws Exception {
        return post("/v1/chat/completions").json(body).send();
    }

    static String withImage(String url) {
        return "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"where is it ?\"},"
                + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + url + "\"}}]}]}";
    }

    /** One HTTP request, signed in as the admin unless told otherwise. */
    final class Req {
        final String method, path;
        String token = BOOTSTRAP_TOKEN, type;
        byte[] body;
        final Map<String, String> headers = new LinkedHashMap<>();

        Req(String method, String path) {
            this.method = method;
            this.path = path;
        }

        Req json(String json) { return body("application/json", json.getBytes(UTF_8)); }

        Req body(String contentType, byte[] bytes) {
            type = contentType;
            body = bytes;
            return this;
        }

        Req multipart(String field, String filename, String partType, byte[] bytes) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.writeBytes(("--XyZ\r\nContent-Disposition: form-data; name=\"" + field + "\"; filename=\"" + filename
                    + "\"\r\nContent-Type: " + partType + "\r\n\r\n").getBytes(UTF_8));
            out.writeBytes(bytes);
            out.writeBytes("\r\n--XyZ--\r\n".getBytes(UTF_8));
            return body("multipart/form-data; boundary=XyZ", out.toByteArray());
        }

        Req as(String bearer) { token = bearer; return this; }

        Req anonymous() { token = null; return this; }

        Req header(String name, String value) { headers.put(name, value); return this; }

        Outcome send() throws Exception {
            HttpRequest.Builder b = HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(60))
                    .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
            if (token != null && !headers.containsKey("Authorization")) b.header("Authorization", "Bearer " + token);
            if (type != null) b.header("Content-Type", type);
            headers.forEach(b::header);
            HttpResponse<String> r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
            return outcome(r.statusCode(), r.body());
        }
    }

    /** Reads {"error": CODE, "reason": TEXT}, or OpenAI's {"error": {"code", "message"}}. */
    static Outcome outcome(int status, String raw) {
        String code = null, reason = null;
        try {
            JsonNode n = JSON.readTree(raw);
            JsonNode error = n == null ? null : n.get("error");
            if (error != null && error.isTextual()) {
                code = error.asText();
                reason = n.path("reason").asText(null);
            } else if (error != null && error.isObject()) {
                code = error.path("code").asText(null);
                reason = error.path("message").asText(null);
            }
        } catch (IOException notJson) {
            // an empty or non-JSON body: no code
        }
        return new Outcome(status, code, reason, raw == null ? "" : raw);
    }

    // ----------------------------------------------------------------------------------------------------- WebSocket

    Outcome ws(String conversation, String token, Object frame) throws Exception {
        return ws(conversation, token, frame, null);
    }

    /**
     * Opens a socket, sends the frame (text, bytes, or none), and reports the first thing heard: an error event
     * passes; a close, another event or silence comes back as a code that names it (so the case fails saying so).
     */
    Outcome ws(String conversation, String token, Object frame, String origin) throws Exception {
        Ws ws;
        try {
            ws = Ws.open(this, conversation, token, origin);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof WebSocketHandshakeException h) {
                return outcome(h.getResponse().statusCode(), String.valueOf(h.getResponse().body()));
            }
            throw e;
        }
        try (ws) {
            if (frame instanceof String s) ws.socket.sendText(s, true).get(10, TimeUnit.SECONDS);
            if (frame instanceof byte[] b) ws.socket.sendBinary(ByteBuffer.wrap(b), true).get(10, TimeUnit.SECONDS);
            JsonNode first = ws.next(Duration.ofSeconds(20));
            String type = first.path("type").asText();
            if (!type.equals("error")) return new Outcome(EVENT, "(" + type + " first, not an error)", null, first.toString());
            return new Outcome(EVENT, first.path("code").asText(null), first.path("reason").asText(null), first.toString());
        }
    }

    /** A socket that records its events and its close, in the order they arrive. */
    static final class Ws implements WebSocket.Listener, AutoCloseable {
        final BlockingQueue<JsonNode> heard = new LinkedBlockingQueue<>();
        private final StringBuilder partial = new StringBuilder();
        WebSocket socket;

        static Ws open(BadInputCatalogueTest t, String conversation, String token, String origin) throws Exception {
            Ws ws = new Ws();
            String http = t.uri("/ws/conversations/" + conversation).toString();
            WebSocket.Builder b = HTTP.newWebSocketBuilder().connectTimeout(Duration.ofSeconds(10));
            if (token != null) b.header("Authorization", "Bearer " + token);
            if (origin != null) b.header("Origin", origin);
            ws.socket = b.buildAsync(URI.create(http.replaceFirst("^http", "ws")), ws).get(20, TimeUnit.SECONDS);
            return ws;
        }

        JsonNode next(Duration timeout) throws InterruptedException {
            JsonNode e = heard.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return e != null ? e : JSON.createObjectNode().put("type", "(silence for " + timeout.toSeconds() + " s)");
        }

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            partial.append(data);
            if (last) {
                try {
                    heard.add(JSON.readTree(partial.toString()));
                } catch (IOException e) {
                    heard.add(JSON.createObjectNode().put("type", "(not JSON)").put("raw", partial.toString()));
                }
                partial.setLength(0);
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onBinary(WebSocket webSocket, ByteBuffer data, boolean last) {
            heard.add(JSON.createObjectNode().put("type", "(binary)"));
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
            heard.add(JSON.createObjectNode().put("type", "(close " + statusCode + ")").put("reason", reason));
            return null;
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            heard.add(JSON.createObjectNode().put("type", "(failure)").put("reason", String.valueOf(error)));
        }

        @Override
        public void close() {
            try {
                socket.sendClose(WebSocket.NORMAL_CLOSURE, "").get(5, TimeUnit.SECONDS);
            } catch (Exception alreadyClosed) {
                // the server closed first
            } finally {
                socket.abort();
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------- images

    static byte[] encode(byte[] png, String format) throws IOException {
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
        BufferedImage rgb = new BufferedImage(img.getWidth(), img.getHeight(), BufferedImage.TYPE_INT_RGB);
        rgb.createGraphics().drawImage(img, 0, 0, null);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertTrue(ImageIO.write(rgb, format, out), "no ImageIO writer for " + format);
        return out.toByteArray();
    }

    /** A small image nobody else has uploaded. */
    static byte[] uniquePng() throws IOException {
        BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
        java.util.Random random = new java.util.Random(System.nanoTime());
        for (int y = 0; y < 32; y++) for (int x = 0; x < 32; x++) img.setRGB(x, y, random.nextInt(1 << 24));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(img, "png", out);
        return out.toByteArray();
    }

    /** A PNG with this header whose pixel data is the deflated {@code raw} bytes (filter bytes included). */
    static byte[] png(int width, int height, int bitDepth, int colorType, byte[] raw) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
        ByteBuffer ihdr = ByteBuffer.allocate(13).putInt(width).putInt(height).put((byte) bitDepth).put((byte) colorType)
                .put((byte) 0).put((byte) 0).put((byte) 0);
        chunk(out, "IHDR", ihdr.array());
        Deflater deflater = new Deflater(9);
        deflater.setInput(raw);
        deflater.finish();
        ByteArrayOutputStream z = new ByteArrayOutputStream();
        byte[] buf = new byte[65536];
        while (!deflater.finished()) z.write(buf, 0, deflater.deflate(buf));
        chunk(out, "IDAT", z.toByteArray());
        chunk(out, "IEND", new byte[0]);
        return out.toByteArray();
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) throws IOException {
        DataOutputStream d = new DataOutputStream(out);
        d.writeInt(data.length);
        byte[] t = type.getBytes(UTF_8);
        d.write(t);
        d.write(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        d.writeInt((int) crc.getValue());
    }

    /** A GIF whose screen and first frame claim 65535x65535 pixels. */
    static byte[] gifBomb() {
        ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        b.put("GIF89a".getBytes(UTF_8)).putShort((short) 0xFFFF).putShort((short) 0xFFFF).put((byte) 0).put((byte) 0).put((byte) 0);
        b.put((byte) 0x2C).putShort((short) 0).putShort((short) 0).putShort((short) 0xFFFF).putShort((short) 0xFFFF).put((byte) 0);
        b.put((byte) 2).put((byte) 2).put((byte) 0x4C).put((byte) 0x01).put((byte) 0).put((byte) 0x3B);
        return Arrays.copyOf(b.array(), b.position());
    }

    /** A BMP whose header claims 50000x50000 pixels of 24 bits, with no pixels. */
    static byte[] bmpBomb() {
        ByteBuffer b = ByteBuffer.allocate(54).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 'B').put((byte) 'M').putInt(54).putInt(0).putInt(54);
        b.putInt(40).putInt(50_000).putInt(50_000).putShort((short) 1).putShort((short) 24).putInt(0).putInt(0)
                .putInt(2835).putInt(2835).putInt(0).putInt(0);
        return b.array();
    }
}

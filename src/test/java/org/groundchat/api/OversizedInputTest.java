package org.groundchat.api;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.groundchat.security.SignedInByDefault;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Input over the transport's limits is refused with a reason, not cut off in silence: request bodies over
 * quarkus.http.limits.max-body-size (28 MB) get a JSON 413, WebSocket messages over
 * quarkus.websockets-next.server.max-message-size (1 MiB) an error event before the close (1009). Raw JDK clients, so
 * that what goes over the wire is exactly what a client sends (a declared Content-Length or chunks; one WebSocket
 * frame or fragments).
 */
@QuarkusTest
@Timeout(120)
class OversizedInputTest {
    static final ObjectMapper JSON = new ObjectMapper();
    /** Just over the 28 MB (MiB) limit of application.properties. */
    static final int OVER_LIMIT = 28 * 1024 * 1024 + 512 * 1024;

    @TestHTTPResource("/")
    URI base;

    final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();

    // ---- HTTP bodies ----

    @Test
    void anUploadDeclaredOverTheLimitIsA413WithTheLimitInMb() throws Exception {
        String boundary = "b0undary";
        byte[] body = multipart(boundary, OVER_LIMIT);
        HttpResponse<String> r = send(post("/api/images", SignedInByDefault.BOOTSTRAP_TOKEN)
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build());
        assertTooLarge(r);
        assertHealthy();
    }

    @Test
    void aJsonBodyDeclaredOverTheLimitIsA413() throws Exception {
        HttpResponse<String> r = send(post("/api/conversations", SignedInByDefault.BOOTSTRAP_TOKEN)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(jsonTitle(OVER_LIMIT))).build());
        assertTooLarge(r);
        assertHealthy();
    }

    @Test
    void aCompletionDeclaredOverTheLimitIsA413InOpenAisShape() throws Exception {
        HttpResponse<String> r = send(post("/v1/chat/completions", SignedInByDefault.BOOTSTRAP_TOKEN)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(completion(OVER_LIMIT))).build());
        assertOpenAiTooLarge(r);
        assertHealthy();
    }

    @Test
    void aClientExpecting100ContinueGetsThe413WithoutSendingTheBody() throws Exception {
        // a plain socket: java.net.http 17 never returns a final answer to a 100-continue request (JDK-8286171)
        try (java.net.Socket socket = new java.net.Socket(base.getHost(), base.getPort())) {
            socket.setSoTimeout(30_000);
            socket.getOutputStream().write(("POST /api/conversations HTTP/1.1\r\nHost: " + base.getHost() + "\r\n"
                    + "Authorization: Bearer " + SignedInByDefault.BOOTSTRAP_TOKEN + "\r\n"
                    + "Content-Type: application/json\r\nContent-Length: " + OVER_LIMIT + "\r\n"
                    + "Expect: 100-continue\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            String response = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8); // to the close
            assertTrue(response.startsWith("HTTP/1.1 413"), response);
            String body = response.substring(response.indexOf("\r\n\r\n") + 4);
            JsonNode json = JSON.readTree(body);
            assertEquals("too_large", json.path("error").asText(), response);
            assertTrue(json.path("reason").asText().contains("28 MB"), response);
        }
        assertHealthy();
    }

    @Test
    void aChunkedJsonBodyOverTheLimitIsA413WithAReason() throws Exception {
        HttpResponse<String> r = send(post("/api/conversations", SignedInByDefault.BOOTSTRAP_TOKEN)
                .header("Content-Type", "application/json").POST(chunked(jsonPadded(OVER_LIMIT))).build());
        assertTooLarge(r);
        HttpResponse<String> v1 = send(post("/v1/chat/completions", SignedInByDefault.BOOTSTRAP_TOKEN)
                .header("Content-Type", "application/json").POST(chunked(completion(OVER_LIMIT))).build());
        assertOpenAiTooLarge(v1);
        assertHealthy();
    }

    @Test
    void aChunkedUploadOverTheLimitIsA413WithAReason() throws Exception {
        String boundary = "b0undary";
        HttpResponse<String> r = send(post("/api/images", SignedInByDefault.BOOTSTRAP_TOKEN)
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(chunked(multipart(boundary, OVER_LIMIT))).build());
        assertTooLarge(r);
        assertHealthy();
    }

    @Test
    void chunkedBodiesUnderTheLimitStillWork() throws Exception {
        HttpResponse<String> r = send(post("/api/conversations", SignedInByDefault.BOOTSTRAP_TOKEN)
                .header("Content-Type", "application/json")
                .POST(chunked("{\"title\":\"sent in chunks\"}".getBytes(StandardCharsets.UTF_8))).build());
        assertEquals(201, r.statusCode(), r.body());
        HttpResponse<String> big = send(post("/api/conversations", SignedInByDefault.BOOTSTRAP_TOKEN)
                .header("Content-Type", "application/json").POST(chunked(jsonTitle(300_000))).build());
        assertEquals(400, big.statusCode(), "read whole, then refused by the title check: " + big.body());
        assertEquals("invalid_title", JSON.readTree(big.body()).path("error").asText(), big.body());
    }

    @Test
    void anAnonymousOversizedUploadIsRefusedBeforeItsSizeMatters() throws Exception {
        String boundary = "b0undary";
        HttpResponse<String> r = send(post("/api/images", null)
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(multipart(boundary, OVER_LIMIT))).build());
        // authentication and authorization run before the size check: 401, and nothing about the server
        assertEquals(401, r.statusCode(), r.body());
        assertNoLeak(r.body());
        assertHealthy();
    }

    private HttpRequest.Builder post(String path, String token) {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(60));
        return token == null ? b : b.header("Authorization", "Bearer " + token);
    }

    private HttpResponse<String> send(HttpRequest request) throws Exception {
        return http.send(request, HttpResponse.BodyHandlers.ofString());
    }

    /** No Content-Length: the JDK client sends the body in chunks. */
    private static HttpRequest.BodyPublisher chunked(byte[] body) {
        return HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(body));
    }

    private static void assertTooLarge(HttpResponse<String> r) throws Exception {
        assertEquals(413, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("application/json"), r.headers().toString());
        JsonNode body = JSON.readTree(r.body());
        assertEquals("too_large", body.path("error").asText(), r.body());
        String reason = body.path("reason").asText();
        assertTrue(reason.contains("28 MB"), reason);
        assertNoLeak(reason);
    }

    private static void assertOpenAiTooLarge(HttpResponse<String> r) throws Exception {
        assertEquals(413, r.statusCode(), r.body());
        JsonNode error = JSON.readTree(r.body()).path("error");
        assertEquals("too_large", error.path("code").asText(), r.body());
        assertEquals("invalid_request_error", error.path("type").asText(), r.body());
        assertTrue(error.path("message").asText().contains("28 MB"), r.body());
        assertNoLeak(r.body());
    }

    private static void assertNoLeak(String text) {
        for (String s : new String[] {"java.", "org.", "io.", "Exception", "localhost", "127.0.0.1", ":8081", ":8080"}) {
            assertFalse(text.contains(s), "'" + s + "' in " + text);
        }
    }

    private void assertHealthy() {
        given().contentType(ContentType.JSON).body("{\"title\":\"after\"}").post("/api/conversations").then().statusCode(201);
    }

    private static byte[] multipart(String boundary, int size) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream(size + 512);
        out.write(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.png\"\r\n"
                + "Content-Type: image/png\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        byte[] filler = new byte[size];
        Arrays.fill(filler, (byte) 7);
        out.write(filler);
        out.write(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.US_ASCII));
        return out.toByteArray();
    }

    private static byte[] jsonTitle(int size) {
        return ("{\"title\":\"" + "x".repeat(size) + "\"}").getBytes(StandardCharsets.UTF_8);
    }

    /** Valid JSON of about this size in 1 MB strings (one string that long is refused by Jackson's own limit first). */
    private static byte[] jsonPadded(int size) {
        StringBuilder json = new StringBuilder("{\"title\":\"padded\",\"pad\":[");
        String piece = "x".repeat(1024 * 1024);
        for (int n = 0; n * piece.length() < size; n++) json.append(n == 0 ? "" : ",").append('"').append(piece).append('"');
        return json.append("]}").toString().getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] completion(int size) {
        return ("{\"model\":\"groundchat\",\"messages\":[{\"role\":\"user\",\"content\":\"" + "x".repeat(size) + "\"}]}")
                .getBytes(StandardCharsets.UTF_8);
    }

    // ---- WebSocket messages ----

    @Test
    void aMessageOverTheLimitInOneFrameGetsAnEventThenTheClose1009() throws Exception {
        // browsers and most WebSocket libraries send a message as one frame (java.net.http and Vert.x cut it into
        // 16 and 64 KiB fragments): a raw socket sends exactly one 2 MiB frame
        String conv = conversation();
        try (RawWebSocket ws = new RawWebSocket(base, conv)) {
            ws.sendText("x".repeat(2 * 1024 * 1024));
            assertTooLargeThenClosed(ws);
        }
        assertAnotherConnectionWorks(conv);
    }

    @Test
    void aMessageOverTheLimitFromJavaNetHttpGetsAnEventThenTheClose1009() throws Exception {
        String conv = conversation();
        Events events = new Events();
        WebSocket ws = connect(conv, events);
        ws.sendText("x".repeat(2 * 1024 * 1024), true).get(30, TimeUnit.SECONDS);
        JsonNode error = events.nextEvent();
        assertEquals("error", error.path("type").asText(), error.toString());
        assertEquals("frame_too_large", error.path("code").asText(), error.toString());
        assertTrue(error.path("reason").asText().contains("1 MiB"), error.toString());
        assertEquals(1009, events.nextClose(), "message too big");
        assertAnotherConnectionWorks(conv);
    }

    @Test
    void fragmentsThatTogetherPassTheLimitGetTheEventThenTheClose1009() throws Exception {
        String conv = conversation();
        Events events = new Events();
        WebSocket ws = connect(conv, events);
        String part = "y".repeat(400 * 1024); // three parts of one message: 1.2 MiB together, each under the limit
        ws.sendText(part, false).get(30, TimeUnit.SECONDS);
        ws.sendText(part, false).get(30, TimeUnit.SECONDS);
        ws.sendText(part, true).get(30, TimeUnit.SECONDS);
        JsonNode error = events.nextEvent();
        assertEquals("frame_too_large", error.path("code").asText(), error.toString());
        assertEquals(1009, events.nextClose());
        assertAnotherConnectionWorks(conv);
    }

    @Test
    void aSingleFrameOverTheFrameSizeGetsTheEventThenTheClose1009() throws Exception {
        // above quarkus.websockets-next.server.max-frame-size (8 MiB) Netty's decoder refuses the frame from its
        // header; Vert.x alone would drop the TCP connection (the client saw 1006 and no reason)
        String conv = conversation();
        try (RawWebSocket ws = new RawWebSocket(base, conv)) {
            ws.sendText("w".repeat(9 * 1024 * 1024));
            assertTooLargeThenClosed(ws);
        }
        assertAnotherConnectionWorks(conv);
    }

    @Test
    void aSingleFrameOver64KiBButUnderTheLimitGetsTheEventAndTheConnectionStays() throws Exception {
        // one frame over Vert.x' default frame size (64 KiB) used to drop the connection before the handler saw it
        String conv = conversation();
        try (RawWebSocket ws = new RawWebSocket(base, conv)) {
            ws.sendText("z".repeat(100_000));
            assertEquals("frame_too_large", JSON.readTree(ws.readText()).path("code").asText());
            ws.sendText("{\"type\":\"cancel\"}");
            assertEquals("nothing_to_cancel", JSON.readTree(ws.readText()).path("code").asText(), "the connection serves");
        }
    }

    /** The frame_too_large event naming the 1 MiB limit, then the close 1009 (message too big). */
    private static void assertTooLargeThenClosed(RawWebSocket ws) throws Exception {
        JsonNode error = JSON.readTree(ws.readText());
        assertEquals("error", error.path("type").asText(), error.toString());
        assertEquals("frame_too_large", error.path("code").asText(), error.toString());
        assertTrue(error.path("reason").asText().contains("1 MiB"), error.toString());
        assertNoLeak(error.path("reason").asText());
        assertEquals(1009, ws.readClose(), "message too big");
    }

    private static String conversation() {
        return given().contentType(ContentType.JSON).body("{\"title\":\"oversized\"}").post("/api/conversations")
                .then().statusCode(201).extract().path("id");
    }

    private WebSocket connect(String conversationId, Events events) throws Exception {
        URI uri = URI.create(base.toString().replaceFirst("^http", "ws")).resolve("/ws/conversations/" + conversationId);
        return http.newWebSocketBuilder().header("Authorization", "Bearer " + SignedInByDefault.BOOTSTRAP_TOKEN)
                .connectTimeout(Duration.ofSeconds(10)).buildAsync(uri, events).get(30, TimeUnit.SECONDS);
    }

    private void assertAnotherConnectionWorks(String conv) throws Exception {
        Events events = new Events();
        WebSocket ws = connect(conv, events);
        ws.sendText("{\"type\":\"cancel\"}", true).get(30, TimeUnit.SECONDS);
        assertEquals("nothing_to_cancel", events.nextEvent().path("code").asText());
        ws.sendClose(WebSocket.NORMAL_CLOSURE, "done").get(30, TimeUnit.SECONDS);
    }

    /** A WebSocket over a plain socket: one text frame per send, exactly as given (signed in like WsClient). */
    static final class RawWebSocket implements AutoCloseable {
        private final java.net.Socket socket;
        private final java.io.DataInputStream in;
        private final java.io.OutputStream out;

        RawWebSocket(URI base, String conversationId) throws Exception {
            socket = new java.net.Socket(base.getHost(), base.getPort());
            socket.setSoTimeout(30_000);
            out = new java.io.BufferedOutputStream(socket.getOutputStream());
            in = new java.io.DataInputStream(new java.io.BufferedInputStream(socket.getInputStream()));
            out.write(("GET /ws/conversations/" + conversationId + " HTTP/1.1\r\nHost: " + base.getHost() + ":"
                    + base.getPort() + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                    + "Authorization: Bearer " + SignedInByDefault.BOOTSTRAP_TOKEN + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            StringBuilder head = new StringBuilder();
            while (!head.toString().endsWith("\r\n\r\n")) head.append((char) in.readUnsignedByte());
            assertTrue(head.toString().startsWith("HTTP/1.1 101"), head.toString());
        }

        /** One final text frame, masked with a zero key (the payload goes as is). */
        void sendText(String text) throws Exception {
            byte[] payload = text.getBytes(StandardCharsets.UTF_8);
            out.write(0x81);
            if (payload.length < 126) {
                out.write(0x80 | payload.length);
            } else if (payload.length < 65536) {
                out.write(0x80 | 126);
                out.write(payload.length >>> 8);
                out.write(payload.length & 0xff);
            } else {
                out.write(0x80 | 127);
                for (int shift = 56; shift >= 0; shift -= 8) out.write((int) ((long) payload.length >>> shift) & 0xff);
            }
            out.write(new byte[4]);
            out.write(payload);
            out.flush();
        }

        /** The next frame: opcode and payload (server frames are not masked). */
        private Object[] readFrame() throws Exception {
            int b0 = in.readUnsignedByte();
            int len = in.readUnsignedByte() & 0x7f;
            long length = len == 126 ? in.readUnsignedShort() : len == 127 ? in.readLong() : len;
            byte[] payload = new byte[(int) length];
            in.readFully(payload);
            return new Object[] {b0 & 0x0f, payload};
        }

        String readText() throws Exception {
            Object[] frame = readFrame();
            assertEquals(1, frame[0], "expected a text frame");
            return new String((byte[]) frame[1], StandardCharsets.UTF_8);
        }

        int readClose() throws Exception {
            Object[] frame = readFrame();
            assertEquals(8, frame[0], "expected the close frame");
            byte[] p = (byte[]) frame[1];
            return ((p[0] & 0xff) << 8) | (p[1] & 0xff);
        }

        @Override
        public void close() throws Exception {
            socket.close();
        }
    }

    /** What a java.net.http WebSocket receives, in order: whole text messages, the close code, or an error. */
    static final class Events implements WebSocket.Listener {
        record Closed(int code, String reason) {}

        final BlockingQueue<Object> received = new LinkedBlockingQueue<>();
        private final StringBuilder partial = new StringBuilder();

        @Override
        public void onOpen(WebSocket ws) {
            ws.request(1);
        }

        @Override
        public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
            partial.append(data);
            if (last) {
                received.add(partial.toString());
                partial.setLength(0);
            }
            ws.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket ws, int code, String reason) {
            received.add(new Closed(code, reason));
            return null;
        }

        @Override
        public void onError(WebSocket ws, Throwable error) {
            received.add(error);
        }

        Object next() throws InterruptedException {
            Object o = received.poll(30, TimeUnit.SECONDS);
            if (o == null) throw new AssertionError("nothing received in 30 s");
            return o;
        }

        JsonNode nextEvent() throws Exception {
            Object o = next();
            assertInstanceOf(String.class, o, "expected an event, got " + o);
            return JSON.readTree((String) o);
        }

        int nextClose() throws Exception {
            Object o = next();
            assertInstanceOf(Closed.class, o, "expected the close, got " + o);
            return ((Closed) o).code();
        }
    }
}

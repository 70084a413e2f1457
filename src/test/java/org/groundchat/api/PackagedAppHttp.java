package org.groundchat.api;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.net.http.WebSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/** REST calls of the integration tests against a packaged app process, signed in with a bearer token. */
final class PackagedAppHttp {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newHttpClient();

    private PackagedAppHttp() {}

    /**
     * Starts the packaged app (target/quarkus-app) on a free port with these {@code -D} options, its output in
     * {@code log}; the process joins {@code apps} at once (so the caller stops it whatever happens) and this returns
     * the base URI when /q/health/ready answers 200.
     */
    static URI start(List<Process> apps, String name, Path log, List<String> options) throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dquarkus.http.port=" + port));
        command.addAll(options);
        command.addAll(List.of("-jar", "target/quarkus-app/quarkus-run.jar"));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        apps.add(p);
        URI base = URI.create("http://localhost:" + port);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) throw new AssertionError(name + " exited at start:\n" + Files.readString(log));
            try {
                if (HTTP.send(HttpRequest.newBuilder(base.resolve("/q/health/ready")).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200) return base;
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(250);
        }
        throw new AssertionError(name + " was not ready within 120 s:\n" + Files.readString(log));
    }

    static HttpRequest.Builder signedIn(URI uri, String token) {
        return HttpRequest.newBuilder(uri).header("Authorization", "Bearer " + token);
    }

    /** Uploads a PNG (multipart, as the browser does); returns the image id. */
    static String upload(URI base, String token, byte[] png) throws Exception {
        String boundary = UUID.randomUUID().toString();
        byte[] head = ("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"scene.png\"\r\n"
                + "Content-Type: image/png\r\n\r\n").getBytes(StandardCharsets.UTF_8);
        byte[] tail = ("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8);
        byte[] body = new byte[head.length + png.length + tail.length];
        System.arraycopy(head, 0, body, 0, head.length);
        System.arraycopy(png, 0, body, head.length, png.length);
        System.arraycopy(tail, 0, body, head.length + png.length, tail.length);
        HttpResponse<String> r = HTTP.send(signedIn(base.resolve("/api/images"), token)
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(201, r.statusCode(), r.body());
        return JSON.readTree(r.body()).path("id").asText();
    }

    /** Creates a conversation; returns its id. */
    static String conversation(URI base, String token, String title) throws Exception {
        HttpResponse<String> r = HTTP.send(signedIn(base.resolve("/api/conversations"), token)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.createObjectNode().put("title", title).toString()))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(201, r.statusCode(), r.body());
        return JSON.readTree(r.body()).path("id").asText();
    }

    /** GET that must answer 200; the JSON body. */
    static JsonNode get(URI base, String token, String path) throws Exception {
        HttpResponse<String> r = HTTP.send(signedIn(base.resolve(path), token).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return JSON.readTree(r.body());
    }

    /** A WebSocket client of one conversation that queues the events and remembers the close code. */
    static class Socket implements AutoCloseable {
        final BlockingQueue<JsonNode> events = new LinkedBlockingQueue<>();
        final CompletableFuture<Integer> closeCode = new CompletableFuture<>();
        private final WebSocket ws;

        Socket(URI base, String token, String conversation) throws Exception {
            ws = HTTP.newWebSocketBuilder().header("Authorization", "Bearer " + token).buildAsync(
                    URI.create("ws://" + base.getAuthority() + "/ws/conversations/" + conversation), new WebSocket.Listener() {
                        private final StringBuilder partial = new StringBuilder();

                        @Override
                        public CompletionStage<?> onText(WebSocket w, CharSequence data, boolean last) {
                            partial.append(data);
                            if (last) {
                                try {
                                    events.add(JSON.readTree(partial.toString()));
                                } catch (IOException e) {
                                    throw new IllegalStateException(e);
                                }
                                partial.setLength(0);
                            }
                            w.request(1);
                            return null;
                        }

                        @Override
                        public CompletionStage<?> onClose(WebSocket w, int status, String reason) {
                            closeCode.complete(status);
                            return null;
                        }

                        @Override
                        public void onError(WebSocket w, Throwable error) {
                            closeCode.complete(-1);
                        }
                    }).get(30, TimeUnit.SECONDS);
        }

        void send(String frame) {
            ws.sendText(frame, true).join();
        }

        /** Events up to and including the first that matches. */
        List<JsonNode> until(Predicate<JsonNode> end) throws InterruptedException {
            List<JsonNode> out = new ArrayList<>();
            while (true) {
                JsonNode e = events.poll(120, TimeUnit.SECONDS);
                if (e == null) throw new AssertionError("no matching event within 120 s; got " + out);
                out.add(e);
                if (end.test(e)) return out;
            }
        }

        List<JsonNode> drain() {
            List<JsonNode> out = new ArrayList<>();
            events.drainTo(out);
            return out;
        }

        @Override
        public void close() {
            if (!ws.isOutputClosed()) ws.sendClose(WebSocket.NORMAL_CLOSURE, "").exceptionally(e -> null);
        }
    }
}

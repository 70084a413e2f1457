package org.groundchat.api;

import com.fasterxml.jackson.databind.JsonNode;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.websockets.next.BasicWebSocketConnector;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.ConfigProvider;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;
import org.groundchat.chat.AdmissionReadiness;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static io.restassured.RestAssured.given;
import static org.groundchat.api.ChatServiceTest.conversation;
import static org.groundchat.api.ChatServiceTest.goldenImage;
import static org.groundchat.api.ChatServiceTest.turn;
import static org.groundchat.api.ChatServiceTest.upload;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The embedded PostgreSQL server is killed (SIGKILL) while an answer streams, and kept from coming back for a while
 * (another socket holds its port): the interrupted answer ends failed, turns during the outage are refused with
 * database_unavailable, liveness turns DOWN once the supervisor gives up (3 s in tests), and when the port is free
 * the supervisor restarts the server and the next turn works, with no stored answer changed and no app restart.
 */
@QuarkusTest
class DatabaseOutageTest {
    @TestHTTPResource("/")
    URI base;
    @Inject
    Instance<BasicWebSocketConnector> connector;
    @Inject
    @Readiness
    AdmissionReadiness admission;

    @org.junit.jupiter.api.BeforeAll
    static void readGolden() throws Exception {
        ChatServiceTest.readGolden();
    }

    @Test
    void aKilledDatabaseComesBackAndNothingStoredChanges() throws Exception {
        String image = upload(goldenImage(ChatServiceTest.SPARSE));
        String reference = conversation();
        try (WsClient ws = new WsClient(connector, base, reference)) {
            ws.send(turn("describe the image .", image, null));
            ws.untilType("done");
        }
        String referenceBefore = given().get("/api/conversations/" + reference).then().statusCode(200).extract().asString();
        String streaming = conversation();
        String idle = conversation();

        try (WsClient answering = new WsClient(connector, base, streaming); WsClient waiting = new WsClient(connector, base, idle)) {
            answering.send(turn("describe the image .", image, null));
            answering.untilType("started");
            PortSquatter outage = killDatabaseAndHoldItsPort();
            try {
                JsonNode interrupted = last(answering.until(e -> isEnd(e), Duration.ofSeconds(60)));
                assertEquals("error", interrupted.path("type").asText(), "the answer could not be stored: " + interrupted);
                assertEquals("database_unavailable", interrupted.path("code").asText(), interrupted.toString());

                waiting.send(turn("describe the image .", image, null));
                JsonNode refused = last(waiting.untilType("error"));
                assertEquals("database_unavailable", refused.path("code").asText(), refused.toString());

                given().get("/api/conversations").then().statusCode(503).body("error", equalTo("database_unavailable"));
                awaitHealth("/q/health/ready", 503, Duration.ofSeconds(10));
                String readiness = given().get("/q/health/ready").then().extract().asString();
                // the interrupted answer's end waits to be stored: the server is not ready again before it is, so the
                // read below, right after readiness, finds it stored (it once found it still "streaming")
                assertEquals(HealthCheckResponse.Status.DOWN, admission.call().getStatus(),
                        "ready while an interrupted answer's end is not stored");
                for (String secret : List.of("localhost", "127.0.0.1", ":" + outage.port, "Exception", "jdbc")) {
                    assertFalse(readiness.contains(secret), "readiness shows no connection details: " + readiness);
                }
                awaitHealth("/q/health/live", 503, Duration.ofSeconds(15)); // the supervisor gave up: restart the app
            } finally {
                outage.close();
            }
            awaitHealth("/q/health/live", 200, Duration.ofSeconds(30));
            awaitHealth("/q/health/ready", 200, Duration.ofSeconds(30));

            // the interrupted answer ended failed, not left "streaming"; the conversation answers again
            JsonNode stored = ChatServiceTest.JSON.readTree(given().get("/api/conversations/" + streaming).then()
                    .statusCode(200).extract().asString());
            JsonNode answer = stored.path("messages").get(1);
            assertEquals("failed", answer.path("status").asText(), answer.toString());
            answering.send(turn("describe the image .", null, null));
            JsonNode done = last(answering.untilType("done"));
            assertEquals("complete", done.path("message").path("status").asText());
            waiting.send(turn("describe the image .", image, null));
            waiting.untilType("done");
        }
        assertEquals(referenceBefore, given().get("/api/conversations/" + reference).then().statusCode(200).extract().asString(),
                "a stored conversation is byte-identical after the outage");
        List<String> idleMessages = given().get("/api/conversations/" + idle).then().extract().path("messages.role");
        assertEquals(List.of("user", "assistant"), idleMessages, "the refused turn stored nothing");
    }

    private static boolean isEnd(JsonNode e) {
        String type = e.path("type").asText();
        return type.equals("done") || type.equals("error") || type.equals("cancelled");
    }

    private static JsonNode last(List<JsonNode> events) {
        return events.get(events.size() - 1);
    }

    private void awaitHealth(String path, int status, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        int seen;
        do {
            seen = given().get(path).then().extract().statusCode();
            if (seen == status) return;
            Thread.sleep(200);
        } while (System.nanoTime() < deadline);
        throw new AssertionError(path + " stayed " + seen + ", expected " + status);
    }

    /** SIGKILL to the postmaster, then its port is taken before the supervisor's next look (1 s) can restart it. */
    private static PortSquatter killDatabaseAndHoldItsPort() throws Exception {
        Path dataDir = Path.of(ConfigProvider.getConfig().getValue("groundchat.db.embedded-data-dir", String.class));
        List<String> pidFile = Files.readAllLines(dataDir.resolve("postmaster.pid"));
        long pid = Long.parseLong(pidFile.get(0).strip());
        int port = Integer.parseInt(pidFile.get(3).strip());
        ProcessHandle postmaster = ProcessHandle.of(pid).orElseThrow();
        assertTrue(postmaster.destroyForcibly(), "SIGKILL sent");
        return new PortSquatter(port);
    }

    /** Accepts and at once closes every connection on the port (IPv4 and, where present, IPv6 loopback). */
    private static final class PortSquatter implements AutoCloseable {
        private final List<ServerSocket> sockets = new ArrayList<>();
        final int port;

        PortSquatter(int port) throws Exception {
            this.port = port;
            sockets.add(bindWhenFree(InetAddress.getByName("127.0.0.1"), port));
            try {
                sockets.add(bindWhenFree(InetAddress.getByName("::1"), port));
            } catch (IOException noIpv6) {
                // a machine without IPv6 loopback: PostgreSQL cannot listen there either
            }
            for (ServerSocket s : sockets) {
                Thread t = new Thread(() -> {
                    while (!s.isClosed()) {
                        try (Socket c = s.accept()) {
                            c.setSoLinger(true, 0);
                        } catch (IOException closed) {
                            // closed by close()
                        }
                    }
                }, "port-squatter");
                t.setDaemon(true);
                t.start();
            }
        }

        private static ServerSocket bindWhenFree(InetAddress address, int port) throws Exception {
            long deadline = System.nanoTime() + Duration.ofMillis(800).toNanos();
            while (true) {
                ServerSocket s = new ServerSocket();
                s.setReuseAddress(true);
                try {
                    s.bind(new InetSocketAddress(address, port));
                    return s;
                } catch (IOException e) {
                    s.close();
                    if (e instanceof java.net.BindException && System.nanoTime() < deadline) {
                        Thread.sleep(5);
                        continue;
                    }
                    throw e;
                }
            }
        }

        @Override
        public void close() throws IOException {
            for (ServerSocket s : sockets) s.close();
        }
    }
}

package org.groundchat.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.groundchat.persistence.PostmasterPidFile;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged application (target/quarkus-app, as users start it) booted twice on one embedded database:
 * a grounded answer stored by the first process is shown unchanged by the second, and an answer that was being
 * generated when the first process was killed (SIGKILL, no shutdown) is marked failed, never a silent gap.
 * Runs in `mvn verify` after packaging (failsafe).
 */
class AppRestartIT {
    static final ObjectMapper JSON = new ObjectMapper();
    static final Path GOLDEN = Path.of("models/default/golden");
    static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir
    Path tmp;
    private final List<Process> apps = new ArrayList<>();

    @AfterEach
    void stopApps() throws Exception {
        for (Process p : apps) {
            p.destroy();
            if (!p.waitFor(60, TimeUnit.SECONDS)) p.destroyForcibly();
        }
        PostmasterPidFile.stopLeftover(tmp.resolve("pg"));
    }

    @Test
    void storedAnswersSurviveAKilledProcessAndTheInterruptedOneIsMarkedFailed() throws Exception {
        JsonNode golden = JSON.readTree(GOLDEN.resolve("golden.json").toFile());
        URI first = boot();
        String session = signIn(first);
        String sparseImage = upload(first, Files.readAllBytes(GOLDEN.resolve("case6.png")));
        String grounded = conversation(first);
        JsonNode done = answer(first, grounded, golden.path("cases").get(6).path("turns").get(0).path("user").asText(),
                sparseImage, false);
        JsonNode answered = done.path("message");
        assertEquals("complete", answered.path("status").asText());
        assertFalse(answered.path("regions").isEmpty(), "precondition: the answer has a region: " + answered);

        // a long answer (8 regions with masks), killed as soon as the server says it started
        String busyImage = upload(first, Files.readAllBytes(GOLDEN.resolve("case1.png")));
        String interrupted = conversation(first);
        JsonNode started = answer(first, interrupted, "describe the image .", busyImage, true);
        String interruptedId = started.path("messageId").asText();
        Process killed = apps.get(0);
        assertFalse(killed.isAlive());

        URI second = boot();
        // the session key outlives the process (session.key beside the database): the browser stays signed in
        HttpResponse<String> me = HTTP.send(HttpRequest.newBuilder(second.resolve("/api/me")).header("Cookie", session).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, me.statusCode(), "signed in after the restart: " + me.body());
        assertTrue(me.body().contains("\"admin\""), me.body());
        JsonNode afterRestart = get(second, "/api/conversations/" + grounded);
        JsonNode stored = afterRestart.path("messages").get(1);
        assertEquals(answered.path("id").asText(), stored.path("id").asText());
        assertEquals("complete", stored.path("status").asText());
        assertEquals(answered.path("text").asText(), stored.path("text").asText());
        assertEquals(answered.path("regions").get(0).path("box"), stored.path("regions").get(0).path("box"));
        assertEquals(answered.path("regions").get(0).path("mask"), stored.path("regions").get(0).path("mask"));

        JsonNode cut = null;
        for (JsonNode m : get(second, "/api/conversations/" + interrupted).path("messages")) {
            if (m.path("id").asText().equals(interruptedId)) cut = m;
        }
        assertTrue(cut != null, "the interrupted answer is stored");
        assertEquals("failed", cut.path("status").asText(), cut.toString());
        assertTrue(cut.toString().contains("interrupted"), cut.toString());
    }

    /** Starts the packaged app on a free port with the test's database directory; returns its base URI when ready. */
    /** The packaged app's admin, for headless use (groundchat.auth.bootstrap-token). */
    private static final String TOKEN = "restart-test-token";
    private static final String ADMIN_PASSWORD = "restart-admin-password";


    private URI boot() throws Exception {
        return PackagedAppHttp.start(apps, "the app", tmp.resolve("app-" + apps.size() + ".log"), List.of(
                "-Dgroundchat.db.dir=" + tmp.resolve("pg"), "-Dgroundchat.auth.bootstrap-token=" + TOKEN,
                "-Dgroundchat.auth.admin-password=" + ADMIN_PASSWORD));
    }

    /** Signs in through the login form; returns the session cookie ("name=value"). */
    private static String signIn(URI base) throws Exception {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(base.resolve("/j_security_check"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString("j_username=admin&j_password=" + ADMIN_PASSWORD)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), "sign-in: " + r.body());
        String cookie = r.headers().allValues("Set-Cookie").stream().filter(c -> c.startsWith("quarkus-credential="))
                .findFirst().orElseThrow(() -> new AssertionError("no session cookie: " + r.headers()));
        return cookie.substring(0, cookie.indexOf(';'));
    }

    private static String upload(URI base, byte[] png) throws Exception {
        return PackagedAppHttp.upload(base, TOKEN, png);
    }

    private static String conversation(URI base) throws Exception {
        return PackagedAppHttp.conversation(base, TOKEN, "restart");
    }

    private static JsonNode get(URI base, String path) throws Exception {
        return PackagedAppHttp.get(base, TOKEN, path);
    }

    /**
     * Sends one user turn over the WebSocket. Returns the "done" event, or with {@code killAtStart} the "started"
     * event after killing the app the moment it arrives (the answer is then being generated).
     */
    private JsonNode answer(URI base, String conversation, String text, String imageId, boolean killAtStart) throws Exception {
        try (PackagedAppHttp.Socket ws = new PackagedAppHttp.Socket(base, TOKEN, conversation)) {
            ws.send(JSON.writeValueAsString(JSON.createObjectNode().put("type", "user_turn").put("text", text)
                    .put("imageId", imageId)));
            while (true) {
                JsonNode e = ws.events.poll(120, TimeUnit.SECONDS);
                if (e == null) throw new AssertionError("no event within 120 s");
                String type = e.path("type").asText();
                if (killAtStart && type.equals("started")) {
                    apps.get(apps.size() - 1).destroyForcibly().waitFor(30, TimeUnit.SECONDS);
                    return e;
                }
                if (type.equals("done")) return e;
                if (type.equals("error")) throw new AssertionError("error event: " + e);
                assertFalse(killAtStart && type.equals("text"), "the answer streamed text before 'started'");
            }
        }
    }
}

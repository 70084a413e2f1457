package org.groundchat.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.DoubleAdder;

/**
 * Load on a running GroundChat server through its public API: N WebSocket sessions, each in its own conversation,
 * closed loop (a session sends its next turn when the previous answer is done), for a fixed time. Mixed workload:
 * 70 % short referring questions, 30 % "describe the image ." (every region with a box, a mask and word points).
 * Afterwards every turn a session sent is checked in the stored conversation: answered and complete.
 *
 * <p>usage: LoadBenchmark BASE_URL TOKEN SESSIONS SECONDS IMAGE [loop|burst] [WARMUP_SECONDS]. With "burst" every
 * session sends one turn at the same moment instead (admission under a crowd: answered, queued positions seen,
 * server_busy refusals). WARMUP_SECONDS (closed loop only, default 0) runs the same load first without counting it:
 * a freshly started server spends a quarter of its CPU in the JIT compiler during its first minute (perf, 32
 * sessions), so the counted seconds measure the steady state a long-running server is in. Error events and stored
 * turns are checked over the whole run, warm-up included.
 */
public final class LoadBenchmark {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String[] SHORT = {"where is the red circle ?", "find the blue square .", "where is the green triangle ?",
            "show me the yellow star .", "where is the small purple circle ?", "find the large orange square ."};
    static final String DESCRIBE = "describe the image .";

    final URI base;
    final String token;
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    final List<Double> latenciesMs = Collections.synchronizedList(new ArrayList<>());
    final Map<String, AtomicInteger> errors = new ConcurrentHashMap<>();
    final AtomicInteger sent = new AtomicInteger();
    final AtomicInteger warmupSent = new AtomicInteger();
    final AtomicInteger answered = new AtomicInteger();
    final AtomicInteger maxQueuePosition = new AtomicInteger();
    /** The events that end a turn. */
    static final Set<String> FINAL = Set.of("done", "cancelled", "error");
    /** Events received in the counted seconds, by type: what each answer costs the server to send. */
    final Map<String, AtomicInteger> eventsByType = new ConcurrentSkipListMap<>();
    /** Sums of the counted answers' server-side timings (the done event's timings and usage), by name. */
    final Map<String, DoubleAdder> timingSums = new ConcurrentSkipListMap<>();
    /** Turns sent before this moment (System.nanoTime) are warm-up: answered and checked, not timed or counted. */
    volatile long countFrom;

    LoadBenchmark(URI base, String token) {
        this.base = base;
        this.token = token;
    }

    public static void main(String[] args) throws Exception {
        LoadBenchmark b = new LoadBenchmark(URI.create(args[0]), args[1]);
        int sessions = Integer.parseInt(args[2]);
        int seconds = Integer.parseInt(args[3]);
        boolean burst = args.length > 5 && args[5].equals("burst");
        int warmup = burst || args.length <= 6 ? 0 : Integer.parseInt(args[6]);
        String imageId = b.upload(Path.of(args[4]));
        List<Session> all = new ArrayList<>();
        for (int i = 0; i < sessions; i++) all.add(b.new Session(i, b.conversation("load " + i), imageId));
        for (Session s : all) s.connect();
        b.countFrom = System.nanoTime() + TimeUnit.SECONDS.toNanos(warmup);
        long start = b.countFrom;
        long end = start + TimeUnit.SECONDS.toNanos(seconds);
        // the server's CPU time over the counted seconds (when load.sh names its process): per answer, it varies far
        // less from run to run than answers/s on a shared 2-core machine
        long serverPid = Long.getLong("server.pid", -1);
        long[] cpuTicks = new long[2];
        Thread cpuStart = new Thread(() -> {
            try {
                TimeUnit.NANOSECONDS.sleep(Math.max(0, start - System.nanoTime()));
            } catch (InterruptedException e) {
                return;
            }
            cpuTicks[0] = cpuTicks(serverPid);
        });
        cpuStart.setDaemon(true);
        cpuStart.start();
        CountDownLatch finished = new CountDownLatch(sessions);
        for (Session s : all) {
            Thread t = new Thread(() -> {
            try {
                if (burst) s.turn(DESCRIBE);
                else while (System.nanoTime() < end) s.turn(s.next());
            } catch (Exception e) {
                b.errors.computeIfAbsent("client:" + e.getClass().getSimpleName(), k -> new AtomicInteger()).incrementAndGet();
            } finally {
                finished.countDown();
            }
            });
            t.setDaemon(true);
            t.start();
        }
        finished.await();
        double elapsed = (System.nanoTime() - start) / 1e9;
        cpuStart.join();
        cpuTicks[1] = cpuTicks(serverPid);
        for (Session s : all) s.close();
        int lost = 0;
        for (Session s : all) lost += b.notStoredComplete(s);
        List<Double> l = new ArrayList<>(b.latenciesMs);
        Collections.sort(l);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("mode", burst ? "burst" : "closed-loop");
        out.put("sessions", sessions);
        out.put("warmupSeconds", warmup);
        out.put("seconds", Math.round(elapsed * 10) / 10.0);
        out.put("warmupTurnsSent", b.warmupSent.get());
        out.put("turnsSent", b.sent.get());
        out.put("answers", b.answered.get());
        out.put("answersPerSecond", Math.round(b.answered.get() / elapsed * 10) / 10.0);
        out.put("p50Ms", pct(l, 50));
        out.put("p95Ms", pct(l, 95));
        out.put("p99Ms", pct(l, 99));
        if (serverPid > 0 && cpuTicks[0] > 0 && b.answered.get() > 0) {
            double cpuMs = (cpuTicks[1] - cpuTicks[0]) * 1000.0 / TICKS_PER_SECOND;
            out.put("serverCpuMsPerAnswer", Math.round(cpuMs / b.answered.get() * 10) / 10.0);
            out.put("serverCores", Math.round(cpuMs / 1000 / elapsed * 100) / 100.0);
        }
        out.put("maxQueuePosition", b.maxQueuePosition.get());
        Map<String, Object> perAnswer = new TreeMap<>();
        b.eventsByType.forEach((type, n) -> perAnswer.put(type, Math.round(n.get() * 10.0 / Math.max(1, b.answered.get())) / 10.0));
        out.put("eventsPerAnswer", perAnswer);
        // where an answer's time went on the server: queueMs is its wait for a worker, the rest its stages
        Map<String, Object> meanTimings = new TreeMap<>();
        b.timingSums.forEach((name, sum) -> meanTimings.put(name, Math.round(sum.sum() * 10.0 / Math.max(1, b.answered.get())) / 10.0));
        out.put("meanTimings", meanTimings);
        Map<String, Integer> err = new LinkedHashMap<>();
        b.errors.forEach((k, v) -> err.put(k, v.get()));
        out.put("errorEvents", err);
        out.put("turnsNotStoredComplete", lost);
        System.out.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(out));
    }

    /** Linux's USER_HZ: /proc/PID/stat counts CPU time in these ticks. */
    static final int TICKS_PER_SECOND = 100;

    /** User plus system CPU ticks of a process (fields 14 and 15 of /proc/PID/stat), or 0 when unreadable. */
    static long cpuTicks(long pid) {
        if (pid <= 0) return 0;
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(f[11]) + Long.parseLong(f[12]); // fields 14, 15 counted after the name's ')'
        } catch (Exception e) {
            return 0;
        }
    }

    static double pct(List<Double> sorted, int p) {
        if (sorted.isEmpty()) return -1;
        int i = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
        return Math.round(sorted.get(Math.max(0, Math.min(sorted.size() - 1, i))) * 10) / 10.0;
    }

    HttpRequest.Builder request(String path) {
        return HttpRequest.newBuilder(base.resolve(path)).header("Authorization", "Bearer " + token)
                .timeout(Duration.ofSeconds(60));
    }

    String upload(Path image) throws Exception {
        String boundary = "b" + UUID.randomUUID();
        byte[] file = Files.readAllBytes(image);
        byte[] head = ("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"scene.png\"\r\n"
                + "Content-Type: image/png\r\n\r\n").getBytes(StandardCharsets.UTF_8);
        byte[] tail = ("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8);
        byte[] body = new byte[head.length + file.length + tail.length];
        System.arraycopy(head, 0, body, 0, head.length);
        System.arraycopy(file, 0, body, head.length, file.length);
        System.arraycopy(tail, 0, body, head.length + file.length, tail.length);
        HttpResponse<String> r = http.send(request("/api/images").header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() / 100 != 2) throw new IllegalStateException("upload: " + r.statusCode() + " " + r.body());
        return JSON.readTree(r.body()).path("id").asText();
    }

    String conversation(String title) throws Exception {
        HttpResponse<String> r = http.send(request("/api/conversations").header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"title\":\"" + title + "\"}")).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 201) throw new IllegalStateException("conversation: " + r.statusCode() + " " + r.body());
        return JSON.readTree(r.body()).path("id").asText();
    }

    /** Sent turns whose stored answer is not complete (or missing). */
    int notStoredComplete(Session s) throws Exception {
        HttpResponse<String> r = http.send(request("/api/conversations/" + s.conversationId).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        int complete = 0;
        for (JsonNode m : JSON.readTree(r.body()).path("messages")) {
            if (m.path("role").asText().equals("assistant") && m.path("status").asText().equals("complete")) complete++;
        }
        return Math.max(0, s.turns - complete);
    }

    final class Session implements WebSocket.Listener {
        final int index;
        final String conversationId;
        final String imageId;
        final Random random;
        final StringBuilder partial = new StringBuilder();
        WebSocket ws;
        /** Answers the server accepted (its "accepted" events); read after the session's last turn. */
        volatile int turns;
        /** The turn waiting for its final event, and when it was sent (System.nanoTime). */
        volatile CompletableFuture<JsonNode> pending;
        volatile long sentAt;

        Session(int index, String conversationId, String imageId) {
            this.index = index;
            this.conversationId = conversationId;
            this.imageId = imageId;
            this.random = new Random(index);
        }

        String next() {
            return random.nextDouble() < 0.3 ? DESCRIBE : SHORT[random.nextInt(SHORT.length)];
        }

        void connect() throws Exception {
            ws = http.newWebSocketBuilder().header("Authorization", "Bearer " + token)
                    .buildAsync(URI.create(base.toString().replaceFirst("^http", "ws")).resolve("/ws/conversations/" + conversationId), this)
                    .get(30, TimeUnit.SECONDS);
        }

        /**
         * One turn: send, then wait for its final event. The other events are counted where they arrive (onText), not
         * handed to this thread: the client shares the server's two cores, and a thread wake-up per event cost it more
         * than reading the events.
         */
        void turn(String text) throws Exception {
            long t0 = System.nanoTime();
            CompletableFuture<JsonNode> end = new CompletableFuture<>();
            sentAt = t0;
            pending = end;
            String frame = JSON.writeValueAsString(Map.of("type", "user_turn", "text", text, "imageId", imageId));
            ws.sendText(frame, true).get(30, TimeUnit.SECONDS);
            (t0 >= countFrom ? sent : warmupSent).incrementAndGet();
            JsonNode e;
            try {
                e = end.get(120, TimeUnit.SECONDS);
            } catch (TimeoutException timeout) {
                throw new IllegalStateException("no final event for 120 s");
            }
            String type = e.path("type").asText();
            if (type.equals("done")) {
                if (t0 >= countFrom) {
                    latenciesMs.add((System.nanoTime() - t0) / 1e6);
                    e.path("timings").properties().forEach(f -> timingSums
                            .computeIfAbsent(f.getKey(), k -> new DoubleAdder()).add(f.getValue().asDouble()));
                    timingSums.computeIfAbsent("promptTokens", k -> new DoubleAdder())
                            .add(e.path("usage").path("promptTokens").asDouble());
                    answered.incrementAndGet();
                }
                return;
            }
            String code = type.equals("error") ? e.path("code").asText() : "cancelled";
            errors.computeIfAbsent(code, k -> new AtomicInteger()).incrementAndGet();
        }

        /** One whole event: counted by type; its JSON is read only where the client needs a field of it. */
        void event(String text) {
            // the server writes "type" first; anything else is read in full
            String type = text.startsWith("{\"type\":\"") ? text.substring(9, text.indexOf('"', 9)) : null;
            JsonNode e = null;
            if (type == null || FINAL.contains(type) || type.equals("queued")) {
                try {
                    e = JSON.readTree(text);
                } catch (Exception bad) {
                    errors.computeIfAbsent("client:bad_json", k -> new AtomicInteger()).incrementAndGet();
                    return;
                }
                type = e.path("type").asText();
            }
            if (sentAt >= countFrom) eventsByType.computeIfAbsent(type, k -> new AtomicInteger()).incrementAndGet();
            if (type.equals("queued")) maxQueuePosition.accumulateAndGet(e.path("position").asInt(), Math::max);
            if (type.equals("accepted")) turns++;
            CompletableFuture<JsonNode> end = pending;
            if (FINAL.contains(type) && end != null) end.complete(e);
        }

        void close() {
            ws.sendClose(WebSocket.NORMAL_CLOSURE, "done").orTimeout(10, TimeUnit.SECONDS).exceptionally(e -> null).join();
        }

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            partial.append(data);
            if (last) {
                event(partial.toString());
                partial.setLength(0);
            }
            webSocket.request(1);
            return CompletableFuture.completedFuture(null);
        }
    }
}

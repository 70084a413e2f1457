package org.groundchat.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.ws.rs.core.StreamingOutput;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.groundchat.chat.TurnCoordinator;
import org.groundchat.openai.TurnEventQueue.Event;

/**
 * One submitted turn, answered either as a single completion or as server-sent chunks while it is decoded. A streaming
 * client that goes away cancels its answer (stored as cancelled, as a closed WebSocket does).
 */
final class CompletionStream {
    /** How long a request waits for its answer (queue included) before it is cancelled. */
    static final long MAX_WAIT_SECONDS = 600;
    /** An SSE comment this often while nothing else is sent: proxies keep the connection, a gone client is noticed. */
    static final long KEEP_ALIVE_SECONDS = 15;

    private final ObjectMapper json;
    private final TurnCoordinator coordinator;
    private final String model;
    private final UUID conversationId;
    private final TurnEventQueue events;
    private final boolean includeUsage;
    private final String id = "chatcmpl-" + UUID.randomUUID().toString().replace("-", "");
    private final long created = System.currentTimeMillis() / 1000;

    CompletionStream(ObjectMapper json, TurnCoordinator coordinator, String model, UUID conversationId,
                     TurnEventQueue events, boolean includeUsage) {
        this.json = json;
        this.coordinator = coordinator;
        this.model = model;
        this.conversationId = conversationId;
        this.events = events;
        this.includeUsage = includeUsage;
    }

    Map<String, Object> await() {
        Event end = null;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(MAX_WAIT_SECONDS);
        try {
            while (end == null && System.nanoTime() < deadline) {
                Event e = events.next(1, TimeUnit.SECONDS);
                if (e != null && e.isFinal()) end = e;
            }
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
        }
        if (end == null) {
            coordinator.cancelIfOwnedBy(conversationId, events);
            throw new OpenAiException(504, "server_error", "timeout", null, "The answer did not finish in time and was cancelled.");
        }
        if ("error".equals(end.type())) throw failure(end);
        JsonNode message = json.valueToTree(end.payload().get("message"));
        // a cancelled answer (POST /api/conversations/{id}/cancel) is a result, not an error: groundchat.status says so
        Object usage = end.payload().get("usage");
        return CompletionJson.completion(id, created, model, message.path("text").asText(),
                "done".equals(end.type()) ? finishReason(end) : "stop",
                usage instanceof Map<?, ?> u ? CompletionJson.usage(u) : null, grounding(message));
    }

    StreamingOutput asEventStream() {
        return out -> {
            try {
                Map<String, Object> first = new LinkedHashMap<>();
                first.put("role", "assistant");
                first.put("content", "");
                write(out, CompletionJson.chunk(id, created, model, first, null, Map.of("conversation_id", conversationId)));
                stream(out);
            } catch (IOException gone) {
                coordinator.cancelIfOwnedBy(conversationId, events);
                throw gone;
            }
        };
    }

    private void stream(OutputStream out) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(MAX_WAIT_SECONDS);
        while (true) {
            Event e;
            try {
                e = events.next(KEEP_ALIVE_SECONDS, TimeUnit.SECONDS);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted");
            }
            if (e == null) {
                if (System.nanoTime() > deadline) throw new IOException("answer timed out");
                out.write(": keep-alive\n\n".getBytes(StandardCharsets.UTF_8));
                out.flush();
                continue;
            }
            Map<String, Object> p = e.payload();
            switch (e.type()) {
                case "text" -> write(out, CompletionJson.chunk(id, created, model, Map.of("content", p.get("delta")), null, null));
                case "region" -> write(out, grounded(Map.of("region", p.get("region"))));
                case "mask" -> write(out, grounded(Map.of("mask", withoutIndex(p))));
                case "point" -> write(out, grounded(Map.of("point", withoutIndex(p))));
                case "queued" -> write(out, grounded(Map.of("queued", p.get("position"))));
                case "done", "cancelled" -> {
                    JsonNode message = json.valueToTree(p.get("message"));
                    write(out, CompletionJson.chunk(id, created, model, Map.of(), "done".equals(e.type()) ? finishReason(e) : "stop",
                            grounding(message)));
                    if (includeUsage && p.get("usage") instanceof Map<?, ?> usage) {
                        write(out, CompletionJson.usageChunk(id, created, model, CompletionJson.usage(usage)));
                    }
                    out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    return;
                }
                case "error" -> {
                    write(out, failure(e).body());
                    return;
                }
                default -> { } // accepted, started: nothing a Chat Completions client reads
            }
        }
    }

    private Map<String, Object> grounded(Map<String, Object> grounding) {
        return CompletionJson.chunk(id, created, model, Map.of(), null, grounding);
    }

    private Map<String, Object> grounding(JsonNode message) {
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("conversation_id", conversationId);
        g.put("message_id", message.path("id").asText());
        g.put("status", message.path("status").asText());
        g.put("regions", message.path("regions"));
        return g;
    }

    private static String finishReason(Event done) {
        Object reason = done.payload().get("finishReason");
        return reason == null ? "stop" : reason.toString();
    }

    private static OpenAiException failure(Event error) {
        return new OpenAiException(500, "server_error", String.valueOf(error.payload().get("code")), null,
                String.valueOf(error.payload().get("reason")));
    }

    private void write(OutputStream out, Map<String, Object> data) throws IOException {
        out.write(("data: " + json.writeValueAsString(data) + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** The WebSocket's per-turn event index is not part of the OpenAI-style chunk. */
    private static Map<String, Object> withoutIndex(Map<String, Object> payload) {
        Map<String, Object> copy = new java.util.LinkedHashMap<>(payload);
        copy.remove("index");
        return copy;
    }
}

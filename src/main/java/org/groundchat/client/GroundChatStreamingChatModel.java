package org.groundchat.client;

import com.fasterxml.jackson.databind.JsonNode;
import dev.langchain4j.exception.HttpException;
import dev.langchain4j.exception.InternalServerException;
import dev.langchain4j.exception.TimeoutException;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.chat.response.StreamingHandle;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The streaming twin of {@link GroundChatChatModel}: text deltas as the server decodes them, regions as they are
 * located (to a {@link GroundChatStreamingHandler}), the whole answer with every region at the end. Cancelling through
 * the {@link StreamingHandle} of a partial response closes the stream, and the server stops and stores the answer
 * as cancelled.
 */
public class GroundChatStreamingChatModel implements StreamingChatModel {
    private final GroundChatClient client;

    private GroundChatStreamingChatModel(GroundChatClient client) {
        this.client = client;
    }

    public static Builder builder() { return new Builder(); }

    /** Straight to doChat: the default wraps the handler for listeners, which would hide onRegion. */
    @Override
    public void chat(ChatRequest request, StreamingChatResponseHandler handler) {
        doChat(request, handler);
    }

    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        GroundChatClient.Call call;
        try {
            call = client.call(request, true);
        } catch (RuntimeException badRequest) {
            handler.onError(badRequest);
            return;
        }
        client.http.sendAsync(call.request(), HttpResponse.BodyHandlers.ofInputStream()).whenComplete((r, failure) -> {
            if (failure != null) {
                handler.onError(new HttpException(0, "GroundChat is not reachable: " + failure.getMessage()));
                return;
            }
            try (InputStream in = r.body()) {
                if (r.statusCode() != 200) {
                    handler.onError(GroundChatClient.error(r.statusCode(), new String(in.readAllBytes(), StandardCharsets.UTF_8)));
                    return;
                }
                read(call, in, handler);
            } catch (IOException | RuntimeException e) {
                handler.onError(e);
            }
        });
    }

    private void read(GroundChatClient.Call call, InputStream in, StreamingChatResponseHandler handler) throws IOException {
        Handle handle = new Handle(in, client);
        Watchdog watchdog = new Watchdog(handle, client.timeout);
        try {
            read(call, handle, watchdog, handler);
        } catch (IOException e) {
            if (watchdog.fired()) {
                handler.onError(new TimeoutException("GroundChat sent nothing for too long or did not finish within "
                        + client.timeout.toSeconds() + " s"));
                return;
            }
            throw e;
        } finally {
            watchdog.stop();
        }
    }

    private void read(GroundChatClient.Call call, Handle handle, Watchdog watchdog, StreamingChatResponseHandler handler)
            throws IOException {
        InputStream in = handle.in;
        PartialResponseContext context = new PartialResponseContext(handle);
        StringBuilder answer = new StringBuilder();
        JsonNode last = null, usage = null;
        BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        try {
            for (String line = lines.readLine(); line != null; line = lines.readLine()) {
                watchdog.heard();
                if (!line.startsWith("data:")) continue;
                String data = line.substring(5).strip();
                if ("[DONE]".equals(data)) break;
                JsonNode chunk = GroundChatClient.JSON.readTree(data);
                if (chunk.has("error")) {
                    handler.onError(GroundChatClient.error(500, data));
                    return;
                }
                if (chunk.has("usage") && chunk.path("usage").isObject()) usage = chunk.path("usage");
                if (chunk.path("groundchat").has("conversation_id")) {
                    handle.conversationId = chunk.path("groundchat").path("conversation_id").asText();
                }
                JsonNode choice = chunk.path("choices").path(0);
                String delta = choice.path("delta").path("content").asText("");
                if (!delta.isEmpty()) {
                    answer.append(delta);
                    handler.onPartialResponse(new PartialResponse(delta), context);
                }
                JsonNode region = chunk.path("groundchat").path("region");
                if (region.isObject() && handler instanceof GroundChatStreamingHandler grounded) {
                    grounded.onRegion(GroundChatClient.region(region));
                }
                if (!choice.path("finish_reason").isMissingNode() && !choice.path("finish_reason").isNull()) last = chunk;
                if (handle.isCancelled()) break;
            }
        } catch (IOException e) {
            if (handle.isCancelled() && !watchdog.fired()) return; // closed by cancel(): no error, no completion
            throw e;
        }
        if (watchdog.fired()) throw new IOException("the stream went silent");
        if (handle.isCancelled()) return;
        if (last == null) {
            handler.onError(new HttpException(502, "The answer stream ended before the answer did."));
            return;
        }
        JsonNode grounding = last.path("groundchat");
        if ("cancelled".equals(grounding.path("status").asText())) {
            handler.onError(new InternalServerException("The answer was stopped on the server before it finished (cancelled)."));
            return;
        }
        client.remember(call, answer.toString(), grounding.path("conversation_id").asText(null));
        handler.onCompleteResponse(client.response(answer.toString(), last.path("id").asText(),
                last.path("choices").path(0).path("finish_reason").asText(), usage, grounding));
    }

    /**
     * Cancelling asks the server to stop the answer (closing the stream alone may go unnoticed while the answer's last
     * events still fit in the network buffers) and closes the stream.
     */
    private static final class Handle implements StreamingHandle {
        final InputStream in;
        private final GroundChatClient client;
        private final AtomicBoolean cancelled = new AtomicBoolean();
        volatile String conversationId;

        Handle(InputStream in, GroundChatClient client) {
            this.in = in;
            this.client = client;
        }

        @Override
        public void cancel() {
            if (!cancelled.compareAndSet(false, true)) return;
            if (conversationId != null) client.cancel(conversationId);
            try {
                in.close();
            } catch (IOException ignored) {
                // already closed
            }
        }

        @Override
        public boolean isCancelled() { return cancelled.get(); }
    }

    /**
     * A stream that goes silent (the server's host gone, a dropped NAT entry) would block the reading thread forever:
     * the server sends a line at least every 15 s, so after 45 s of silence, or once the whole timeout has passed,
     * the stream is closed and the handler hears a TimeoutException.
     */
    private static final class Watchdog {
        private static final long SILENCE_NANOS = TimeUnit.SECONDS.toNanos(45);
        private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "groundchat-client-watchdog");
            t.setDaemon(true);
            return t;
        });

        private final long deadline;
        private volatile long lastHeard = System.nanoTime();
        private volatile boolean fired;
        private final ScheduledFuture<?> check;

        Watchdog(Handle handle, Duration timeout) {
            this.deadline = System.nanoTime() + timeout.toNanos();
            this.check = TIMER.scheduleWithFixedDelay(() -> {
                long now = System.nanoTime();
                if (now - lastHeard > SILENCE_NANOS || now > deadline) {
                    fired = true;
                    handle.cancel();
                }
            }, 1, 1, TimeUnit.SECONDS);
        }

        void heard() { lastHeard = System.nanoTime(); }

        boolean fired() { return fired; }

        void stop() { check.cancel(false); }
    }

    public static class Builder extends GroundChatBuilder<Builder, GroundChatStreamingChatModel> {
        @Override
        public GroundChatStreamingChatModel build() { return new GroundChatStreamingChatModel(client()); }
    }
}

package org.groundchat.client;

import com.fasterxml.jackson.databind.JsonNode;
import dev.langchain4j.exception.HttpException;
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
        GroundChatClient.Call call = client.call(request, true);
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
        PartialResponseContext context = new PartialResponseContext(handle);
        StringBuilder answer = new StringBuilder();
        JsonNode last = null, usage = null;
        BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        try {
            for (String line = lines.readLine(); line != null; line = lines.readLine()) {
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
                if (handle.isCancelled()) return;
            }
        } catch (IOException e) {
            if (handle.isCancelled()) return; // the stream was closed by cancel(): no error, no completion
            throw e;
        }
        if (handle.isCancelled()) return;
        if (last == null) {
            handler.onError(new HttpException(502, "The answer stream ended before the answer did."));
            return;
        }
        JsonNode grounding = last.path("groundchat");
        client.remember(call, answer.toString(), grounding.path("conversation_id").asText(null));
        handler.onCompleteResponse(client.response(answer.toString(), last.path("id").asText(),
                last.path("choices").path(0).path("finish_reason").asText(), usage, grounding));
    }

    /**
     * Cancelling asks the server to stop the answer (closing the stream alone may go unnoticed while the answer's last
     * events still fit in the network buffers) and closes the stream.
     */
    private static final class Handle implements StreamingHandle {
        private final InputStream in;
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

    public static class Builder extends GroundChatBuilder<Builder, GroundChatStreamingChatModel> {
        @Override
        public GroundChatStreamingChatModel build() { return new GroundChatStreamingChatModel(client()); }
    }
}

package org.groundchat.client;

import com.fasterxml.jackson.databind.JsonNode;
import dev.langchain4j.exception.TimeoutException;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;

/**
 * A LangChain4j chat model served by a running GroundChat server (no model files or ONNX Runtime in the caller).
 * Answers carry their regions in {@link GroundChatResponseMetadata}.
 * <pre>{@code
 * ChatModel model = GroundChatChatModel.builder().baseUrl("http://localhost:8080").apiKey(token).build();
 * ChatResponse r = model.chat(UserMessage.from(TextContent.from("where is the red star ?"), ImageContent.from(png, "image/png")));
 * List<GroundChatRegion> regions = ((GroundChatResponseMetadata) r.metadata()).regions();
 * }</pre>
 */
public class GroundChatChatModel implements ChatModel {
    private final GroundChatClient client;

    private GroundChatChatModel(GroundChatClient client) {
        this.client = client;
    }

    public static Builder builder() { return new Builder(); }

    @Override
    public ChatResponse doChat(ChatRequest request) {
        GroundChatClient.Call call = client.call(request, false);
        HttpResponse<String> r;
        try {
            r = client.http.send(call.request(), HttpResponse.BodyHandlers.ofString());
        } catch (HttpTimeoutException e) {
            throw new TimeoutException("GroundChat did not answer within " + client.timeout.toSeconds() + " s", e);
        } catch (IOException e) {
            throw new dev.langchain4j.exception.HttpException(0, "GroundChat is not reachable: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new dev.langchain4j.exception.HttpException(0, "interrupted");
        }
        if (r.statusCode() != 200) throw GroundChatClient.error(r.statusCode(), r.body());
        JsonNode body;
        try {
            body = GroundChatClient.JSON.readTree(r.body());
        } catch (IOException e) {
            throw new dev.langchain4j.exception.JsonReadException("GroundChat sent an unreadable completion", e);
        }
        JsonNode choice = body.path("choices").path(0);
        String answer = choice.path("message").path("content").asText("");
        JsonNode grounding = body.path("groundchat");
        if ("cancelled".equals(grounding.path("status").asText())) {
            throw new dev.langchain4j.exception.InternalServerException(
                    "The answer was stopped on the server before it finished (cancelled).");
        }
        client.remember(call, answer, grounding.path("conversation_id").asText(null));
        return client.response(answer, body.path("id").asText(), choice.path("finish_reason").asText(), body.path("usage"), grounding);
    }

    public static class Builder extends GroundChatBuilder<Builder, GroundChatChatModel> {
        @Override
        public GroundChatChatModel build() { return new GroundChatChatModel(client()); }
    }
}

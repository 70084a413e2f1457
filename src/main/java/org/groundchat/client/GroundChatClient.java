package org.groundchat.client;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.langchain4j.data.image.Image;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.Content;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.AuthenticationException;
import dev.langchain4j.exception.HttpException;
import dev.langchain4j.exception.InternalServerException;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.ModelNotFoundException;
import dev.langchain4j.exception.RateLimitException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The HTTP side shared by both remote models: LangChain4j requests to GroundChat's /v1/chat/completions and back.
 *
 * Region references ([1], [2], ...) need the server's stored conversation, which holds the earlier answers' boxes.
 * So the client remembers which conversation each answered history belongs to: a request whose messages (all but the
 * last) are exactly a history it answered before continues that conversation and sends only the new user message;
 * any other history starts a new conversation and is sent whole. LangChain4j's chat memories work unchanged.
 */
final class GroundChatClient {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String CONVERSATION_HEADER = "X-GroundChat-Conversation";
    private static final int REMEMBERED_HISTORIES = 1000;

    final HttpClient http;
    final Duration timeout;
    private final URI completions;
    private final String root;
    private final String apiKey;
    private final String modelName;
    private final String pinnedConversation;
    private final Map<String, String> conversations = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, String> eldest) {
            return size() > REMEMBERED_HISTORIES;
        }
    };

    GroundChatClient(String baseUrl, String apiKey, Duration timeout, String modelName, String conversationId) {
        if (baseUrl == null || baseUrl.isBlank()) throw new IllegalArgumentException("baseUrl is required (e.g. http://localhost:8080)");
        String root = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
        if (root.endsWith("/v1")) root = root.substring(0, root.length() - 3);
        this.root = root;
        this.completions = URI.create(root + "/v1/chat/completions");
        this.apiKey = apiKey;
        this.timeout = timeout == null ? Duration.ofSeconds(120) : timeout;
        this.modelName = modelName == null ? "groundchat" : modelName;
        this.pinnedConversation = conversationId;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(this.timeout).build();
    }

    /** A request ready to send, and what is needed to remember its conversation afterwards. */
    record Call(HttpRequest request, ArrayNode history) {}

    Call call(ChatRequest req, boolean stream) {
        if (req.toolSpecifications() != null && !req.toolSpecifications().isEmpty()) {
            throw new InvalidRequestException("GroundChat does not call tools: send requests without tool specifications.");
        }
        List<ChatMessage> messages = req.messages();
        if (messages.isEmpty() || !(messages.get(messages.size() - 1) instanceof UserMessage)) {
            throw new InvalidRequestException("The last message must be a user message.");
        }
        ArrayNode all = JSON.createArrayNode();
        for (ChatMessage m : messages) all.add(message(m));
        String continued = pinnedConversation;
        if (continued == null) {
            synchronized (conversations) {
                continued = conversations.get(fingerprint(all, all.size() - 1));
            }
        }
        ObjectNode body = JSON.createObjectNode().put("model", req.modelName() != null ? req.modelName() : modelName);
        ArrayNode sent = body.putArray("messages");
        if (continued == null) sent.addAll(all);
        else sent.add(all.get(all.size() - 1));
        if (req.temperature() != null) body.put("temperature", req.temperature());
        if (req.topP() != null) body.put("top_p", req.topP());
        if (req.maxOutputTokens() != null) body.put("max_tokens", req.maxOutputTokens());
        if (stream) {
            body.put("stream", true);
            body.putObject("stream_options").put("include_usage", true);
        }
        HttpRequest.Builder http = HttpRequest.newBuilder(completions).timeout(timeout)
                .header("Content-Type", "application/json")
                .header("Accept", stream ? "text/event-stream" : "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.toString(), StandardCharsets.UTF_8));
        if (apiKey != null) http.header("Authorization", "Bearer " + apiKey);
        if (continued != null) http.header(CONVERSATION_HEADER, continued);
        return new Call(http.build(), all);
    }

    /** Asks the server to stop the conversation's running answer; fire and forget (the answer may already be done). */
    void cancel(String conversationId) {
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create(root + "/api/conversations/" + conversationId + "/cancel"))
                .timeout(timeout).POST(HttpRequest.BodyPublishers.noBody());
        if (apiKey != null) r.header("Authorization", "Bearer " + apiKey);
        http.sendAsync(r.build(), java.net.http.HttpResponse.BodyHandlers.discarding());
    }

    /** After an answer: the history it completes now belongs to that conversation. */
    void remember(Call call, String answer, String conversationId) {
        if (conversationId == null || pinnedConversation != null) return;
        ArrayNode history = call.history().deepCopy();
        history.add(JSON.createObjectNode().put("role", "assistant").put("content", answer));
        synchronized (conversations) {
            conversations.put(fingerprint(history, history.size()), conversationId);
        }
    }

    ChatResponse response(String answer, String id, String finishReason, JsonNode usage, JsonNode grounding) {
        GroundChatResponseMetadata.Builder meta = GroundChatResponseMetadata.builder().id(id).modelName(modelName)
                .finishReason("length".equals(finishReason) ? FinishReason.LENGTH : FinishReason.STOP)
                .regions(regions(grounding.path("regions"))).conversationId(grounding.path("conversation_id").asText(null));
        if (usage != null && usage.isObject()) {
            meta.tokenUsage(new TokenUsage(usage.path("prompt_tokens").asInt(), usage.path("completion_tokens").asInt()));
        }
        return ChatResponse.builder().aiMessage(AiMessage.from(answer)).metadata(meta.build()).build();
    }

    /** HTTP errors become LangChain4j's exception types, with the server's reason as the message. */
    static RuntimeException error(int status, String body) {
        String message = "HTTP " + status;
        String code = "";
        try {
            JsonNode error = JSON.readTree(body).path("error");
            message = error.path("message").asText(message);
            code = error.path("code").asText("");
        } catch (JsonProcessingException | RuntimeException ignored) {
            // not an OpenAI-shaped error (a proxy's page): keep the status
        }
        return switch (status) {
            case 400, 413, 415, 422 -> new InvalidRequestException(message);
            case 401, 403 -> new AuthenticationException(message);
            case 404 -> "model_not_found".equals(code) ? new ModelNotFoundException(message) : new InvalidRequestException(message);
            case 429 -> new RateLimitException(message);
            default -> status >= 500 ? new InternalServerException(message) : new HttpException(status, message);
        };
    }

    static List<GroundChatRegion> regions(JsonNode list) {
        List<GroundChatRegion> out = new ArrayList<>();
        for (JsonNode r : list) out.add(region(r));
        return out;
    }

    static GroundChatRegion region(JsonNode r) {
        double[] box = new double[4];
        for (int i = 0; i < 4; i++) box[i] = r.path("box").path(i).asDouble();
        JsonNode mask = r.path("mask");
        int[] counts = new int[mask.path("counts").size()];
        for (int i = 0; i < counts.length; i++) counts[i] = mask.path("counts").get(i).asInt();
        List<GroundChatRegion.WordPoint> points = new ArrayList<>();
        for (JsonNode p : r.path("points")) {
            points.add(new GroundChatRegion.WordPoint(p.path("word").asText(), p.path("start").asInt(), p.path("end").asInt(),
                    p.path("x").asDouble(), p.path("y").asDouble()));
        }
        return new GroundChatRegion(r.path("number").asInt(), r.path("phrase").asText(), r.path("phraseStart").asInt(),
                r.path("phraseEnd").asInt(), box, mask.path("size").path(0).asInt(), mask.path("size").path(1).asInt(), counts,
                points);
    }

    private static ObjectNode message(ChatMessage m) {
        ObjectNode out = JSON.createObjectNode();
        if (m instanceof SystemMessage s) return out.put("role", "system").put("content", s.text());
        if (m instanceof AiMessage a) {
            if (a.hasToolExecutionRequests()) throw new InvalidRequestException("GroundChat does not call tools.");
            return out.put("role", "assistant").put("content", a.text() == null ? "" : a.text());
        }
        if (m instanceof UserMessage u) {
            out.put("role", "user");
            ArrayNode parts = out.putArray("content");
            for (Content c : u.contents()) {
                if (c instanceof TextContent t) {
                    parts.addObject().put("type", "text").put("text", t.text());
                } else if (c instanceof ImageContent i) {
                    parts.addObject().put("type", "image_url").putObject("image_url").put("url", imageUrl(i.image()));
                } else {
                    throw new InvalidRequestException("GroundChat reads text and images; " + c.type() + " content is not supported.");
                }
            }
            return out;
        }
        throw new InvalidRequestException("Unsupported message type " + m.type() + ": send system, user and AI messages.");
    }

    private static String imageUrl(Image image) {
        if (image.base64Data() != null) {
            return "data:" + (image.mimeType() == null ? "image/png" : image.mimeType()) + ";base64," + image.base64Data();
        }
        if (image.url() != null) return image.url().toString(); // the server refuses remote URLs with a clear reason
        throw new InvalidRequestException("The image has neither data nor a URL.");
    }

    private static String fingerprint(ArrayNode messages, int count) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (int i = 0; i < count; i++) {
                sha.update(messages.get(i).toString().getBytes(StandardCharsets.UTF_8));
                sha.update((byte) 0);
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}

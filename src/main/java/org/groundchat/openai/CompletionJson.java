package org.groundchat.openai;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The JSON shapes of OpenAI's Chat Completions API, plus the {@code groundchat} extension field. */
final class CompletionJson {
    private CompletionJson() {}

    static Map<String, Object> model(JsonNode raw) {
        Map<String, Object> about = new LinkedHashMap<>();
        about.put("bundle_version", raw.path("version").asText());
        about.put("trained_steps", raw.path("trained_steps").asInt());
        about.put("parameters", raw.path("parameters").asLong());
        about.put("image_size", raw.path("image").path("size").asInt());
        about.put("vocabulary", raw.path("dims").path("vocab").asInt());
        // an imported NExT-Chat bundle says what it can (no word points, no dense captions)
        JsonNode can = raw.path("capabilities");
        about.put("grounding", can.path("word_points").asBoolean(true) ? List.of("boxes", "masks", "word_points", "user_regions")
                : List.of("boxes", "masks", "user_regions"));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", raw.path("name").asText());
        m.put("object", "model");
        m.put("created", 0);
        m.put("owned_by", "groundchat");
        m.put("groundchat", about);
        return m;
    }

    static Map<String, Object> completion(String id, long created, String model, String text, String finishReason,
                                          Map<String, Object> usage, Map<String, Object> grounding) {
        Map<String, Object> message = new LinkedHashMap<>();
        message.put("role", "assistant");
        message.put("content", text);
        message.put("refusal", null);
        Map<String, Object> m = envelope(id, "chat.completion", created, model);
        m.put("choices", List.of(choice("message", message, finishReason)));
        m.put("usage", usage);
        m.put("groundchat", grounding);
        return m;
    }

    static Map<String, Object> chunk(String id, long created, String model, Map<String, Object> delta, String finishReason,
                                     Map<String, Object> grounding) {
        Map<String, Object> m = envelope(id, "chat.completion.chunk", created, model);
        m.put("choices", List.of(choice("delta", delta, finishReason)));
        if (grounding != null) m.put("groundchat", grounding);
        return m;
    }

    /** The last chunk when the client asked for usage (stream_options.include_usage): no choices, only usage. */
    static Map<String, Object> usageChunk(String id, long created, String model, Map<String, Object> usage) {
        Map<String, Object> m = envelope(id, "chat.completion.chunk", created, model);
        m.put("choices", List.of());
        m.put("usage", usage);
        return m;
    }

    static Map<String, Object> usage(Map<?, ?> usage) {
        int prompt = ((Number) usage.get("promptTokens")).intValue();
        int completion = ((Number) usage.get("completionTokens")).intValue();
        return Map.of("prompt_tokens", prompt, "completion_tokens", completion, "total_tokens", prompt + completion);
    }

    private static Map<String, Object> envelope(String id, String object, long created, String model) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", id);
        m.put("object", object);
        m.put("created", created);
        m.put("model", model);
        return m;
    }

    private static Map<String, Object> choice(String key, Map<String, Object> content, String finishReason) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("index", 0);
        c.put(key, content);
        c.put("logprobs", null);
        c.put("finish_reason", finishReason);
        return c;
    }
}

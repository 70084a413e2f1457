package org.groundchat.openai;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Set;

/**
 * A Chat Completions request, checked field by field so that each refusal names the field (OpenAI's {@code param}).
 * What GroundChat cannot honour is refused, not ignored: n > 1, tools and function calls, remote image URLs.
 *
 * @param messages    user and assistant messages in order (system and developer messages are dropped: the model has
 *                    no system prompt)
 * @param conversationId the stored conversation to continue (body field {@code conversation_id}), or null
 */
record ChatCompletionRequest(String model, List<Message> messages, Double temperature, Double topP, Integer maxTokens,
                             Long seed, boolean stream, boolean includeUsage, String conversationId) {

    /** One message: its text (parts joined by spaces) and the bytes of its image, if it has one. */
    record Message(String role, String text, byte[] image) {}

    private static final Set<String> UNSUPPORTED = Set.of("tools", "tool_choice", "functions", "function_call",
            "response_format", "logprobs", "audio");

    static ChatCompletionRequest parse(JsonNode body) {
        if (body == null || !body.isObject()) {
            throw OpenAiException.invalid(null, "invalid_json", "The request body must be a JSON object.");
        }
        for (String field : UNSUPPORTED) {
            JsonNode v = body.get(field);
            if (v != null && !v.isNull() && !(v.isBoolean() && !v.asBoolean()) && !(v.isArray() && v.isEmpty())) {
                throw OpenAiException.invalid(field, "unsupported_parameter",
                        "'" + field + "' is not supported: this model answers in text with grounded regions only.");
            }
        }
        JsonNode n = body.get("n");
        if (n != null && !n.isNull() && !(n.isIntegralNumber() && n.asInt() == 1)) {
            throw OpenAiException.invalid("n", "unsupported_parameter", "Only n = 1 is supported.");
        }
        String model = optionalText(body, "model");
        Double temperature = optionalNumber(body, "temperature", 0, 2);
        Double topP = optionalNumber(body, "top_p", 0, 1);
        if (topP != null && topP == 0) throw OpenAiException.invalid("top_p", "invalid_value", "'top_p' must be in (0, 1].");
        Integer maxTokens = optionalInt(body, "max_completion_tokens");
        if (maxTokens == null) maxTokens = optionalInt(body, "max_tokens");
        if (maxTokens != null && (maxTokens < 1 || maxTokens > 256)) {
            throw OpenAiException.invalid("max_tokens", "invalid_value", "'max_tokens' must be between 1 and 256.");
        }
        JsonNode seedNode = body.get("seed");
        Long seed = seedNode == null || seedNode.isNull() ? null : seedNode.isIntegralNumber() ? seedNode.asLong() : null;
        if (seedNode != null && !seedNode.isNull() && seed == null) {
            throw OpenAiException.invalid("seed", "invalid_type", "'seed' must be an integer.");
        }
        boolean stream = optionalBoolean(body, "stream");
        JsonNode streamOptions = body.get("stream_options");
        boolean includeUsage = streamOptions != null && streamOptions.path("include_usage").asBoolean(false);
        return new ChatCompletionRequest(model, messages(body.get("messages")), temperature, topP, maxTokens, seed, stream,
                includeUsage, optionalText(body, "conversation_id"));
    }

    private static List<Message> messages(JsonNode node) {
        if (node == null || node.isNull()) throw OpenAiException.invalid("messages", "missing_required_parameter", "'messages' is required.");
        if (!node.isArray() || node.isEmpty()) {
            throw OpenAiException.invalid("messages", "invalid_value", "'messages' must be a non-empty array.");
        }
        List<Message> out = new ArrayList<>();
        for (int i = 0; i < node.size(); i++) {
            JsonNode m = node.get(i);
            String param = "messages[" + i + "]";
            if (!m.isObject()) throw OpenAiException.invalid(param, "invalid_type", param + " must be an object.");
            String role = m.path("role").asText("");
            switch (role) {
                case "system", "developer" -> { continue; }
                case "user", "assistant" -> out.add(content(role, m.get("content"), param));
                case "" -> throw OpenAiException.invalid(param + ".role", "missing_required_parameter", param + " has no role.");
                default -> throw OpenAiException.invalid(param + ".role", "invalid_value", "Unsupported role '" + role
                        + "': use user and assistant (system messages are accepted and ignored).");
            }
        }
        if (out.isEmpty() || !"user".equals(out.get(out.size() - 1).role())) {
            throw OpenAiException.invalid("messages", "invalid_value", "The last message must be a user message.");
        }
        return out;
    }

    private static Message content(String role, JsonNode content, String param) {
        if (content == null || content.isNull()) {
            throw OpenAiException.invalid(param + ".content", "missing_required_parameter", param + " has no content.");
        }
        if (content.isTextual()) return new Message(role, content.asText(), null);
        if (!content.isArray()) {
            throw OpenAiException.invalid(param + ".content", "invalid_type", param + ".content must be a string or an array of parts.");
        }
        StringBuilder text = new StringBuilder();
        byte[] image = null;
        for (int k = 0; k < content.size(); k++) {
            JsonNode part = content.get(k);
            String partParam = param + ".content[" + k + "]";
            String type = part.path("type").asText("");
            if ("text".equals(type)) {
                if (!text.isEmpty()) text.append(' ');
                text.append(part.path("text").asText(""));
            } else if ("image_url".equals(type)) {
                if ("assistant".equals(role)) {
                    throw OpenAiException.invalid(partParam, "invalid_value", "Assistant messages cannot carry images.");
                }
                if (image != null) {
                    throw OpenAiException.invalid(partParam, "too_many_images", "A message may carry one image.");
                }
                JsonNode url = part.path("image_url");
                image = dataUrl(url.isTextual() ? url.asText() : url.path("url").asText(""), partParam + ".image_url.url");
            } else {
                throw OpenAiException.invalid(partParam + ".type", "invalid_value", "Unsupported content part type '" + type
                        + "': use text and image_url.");
            }
        }
        return new Message(role, text.toString(), image);
    }

    /** Only inline images: the server fetches nothing from the network. */
    private static byte[] dataUrl(String url, String param) {
        if (url.isEmpty()) throw OpenAiException.invalid(param, "missing_required_parameter", "The image_url has no url.");
        if (!url.startsWith("data:")) {
            throw OpenAiException.invalid(param, "unsupported_image_url", "Only base64 data: URLs are accepted "
                    + "(data:image/png;base64,...); the server does not fetch images from the network.");
        }
        int comma = url.indexOf(',');
        if (comma < 0 || !url.substring(0, comma).endsWith(";base64")) {
            throw OpenAiException.invalid(param, "invalid_image_url", "The data: URL must be base64-encoded (data:image/png;base64,...).");
        }
        try {
            return Base64.getDecoder().decode(url.substring(comma + 1).replaceAll("\\s", ""));
        } catch (IllegalArgumentException e) {
            throw OpenAiException.invalid(param, "invalid_image_url", "The image's base64 data is not valid base64.");
        }
    }

    private static String optionalText(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) return null;
        if (!v.isTextual()) throw OpenAiException.invalid(field, "invalid_type", "'" + field + "' must be a string.");
        return v.asText();
    }

    private static Double optionalNumber(JsonNode body, String field, double min, double max) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) return null;
        if (!v.isNumber() || v.asDouble() < min || v.asDouble() > max) {
            throw OpenAiException.invalid(field, "invalid_value", "'" + field + "' must be a number between " + min + " and " + max + ".");
        }
        return v.asDouble();
    }

    private static Integer optionalInt(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) return null;
        if (!v.isIntegralNumber()) throw OpenAiException.invalid(field, "invalid_type", "'" + field + "' must be an integer.");
        return v.asInt();
    }

    private static boolean optionalBoolean(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) return false;
        if (!v.isBoolean()) throw OpenAiException.invalid(field, "invalid_type", "'" + field + "' must be true or false.");
        return v.asBoolean();
    }
}

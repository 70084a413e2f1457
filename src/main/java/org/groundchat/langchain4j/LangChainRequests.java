package org.groundchat.langchain4j;

import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.Content;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import dev.langchain4j.data.message.AiMessage;
import java.util.Base64;
import java.util.List;
import org.groundchat.inference.CancellationToken;
import org.groundchat.inference.GenerationEvents.GenerationResult;
import org.groundchat.inference.GenerationOptions;
import org.groundchat.inference.GenerationRequest;
import org.groundchat.inference.InferenceException;
import org.groundchat.inference.PromptTurn;

/**
 * Maps LangChain4j requests onto engine requests and results back. The whole history becomes the prompt: user
 * messages as user turns, earlier AI messages as assistant turns (their region labels "[n]" dropped: a label's box
 * does not travel in LangChain4j's messages, so an earlier answer is re-read as words), system messages are left out
 * (the model was trained without one). The last message must be the user's question; the image is the newest
 * {@link ImageContent} (base64) among the user messages. Answers keep region labels ("the red star [1].") and the
 * regions travel in {@link GroundedResponseMetadata}.
 */
final class LangChainRequests {
    static final String MODEL_NAME = "groundchat-shapes-pix2emb";
    private static final java.util.regex.Pattern LABEL = java.util.regex.Pattern.compile("\\s*\\[\\d+\\]");

    private LangChainRequests() {}

    /** The request's history and parameters over the model's defaults (its builder's options). */
    static GenerationRequest toEngine(ChatRequest request, GenerationOptions defaults, CancellationToken cancel) {
        List<ChatMessage> messages = request.messages();
        List<PromptTurn> turns = new java.util.ArrayList<>();
        byte[] image = null;
        for (ChatMessage m : messages) {
            if (m instanceof UserMessage u) {
                for (Content c : u.contents()) {
                    if (c instanceof ImageContent ic) image = imageBytes(ic);
                }
                String text = text(u);
                if (!text.isBlank()) turns.add(PromptTurn.user(text, List.of()));
            } else if (m instanceof AiMessage a && a.text() != null && !a.text().isBlank()) {
                turns.add(PromptTurn.assistant(LABEL.matcher(a.text()).replaceAll(""), List.of()));
            }
        }
        if (messages.isEmpty() || !(messages.get(messages.size() - 1) instanceof UserMessage last)) {
            throw new InferenceException("The request has no user message last: the model answers the user's question.");
        }
        if (image == null) throw new InferenceException("The request has no image: add an ImageContent with base64 data.");
        if (text(last).isBlank()) throw new InferenceException("The user message has no text.");
        GenerationOptions d = defaults == null ? GenerationOptions.greedy() : defaults;
        var p = request.parameters();
        double temperature = p != null && p.temperature() != null ? p.temperature() : d.temperature();
        double topP = p != null && p.topP() != null ? p.topP() : d.topP();
        int topK = p != null && p.topK() != null ? p.topK() : d.topK();
        int maxTokens = p != null && p.maxOutputTokens() != null ? p.maxOutputTokens() : d.maxNewTokens();
        GenerationOptions options = new GenerationOptions(temperature, topP, topK, maxTokens, d.seed(), d.masks(), d.points());
        return new GenerationRequest(image, turns, options, null, cancel);
    }

    private static String text(UserMessage u) {
        StringBuilder text = new StringBuilder();
        for (Content c : u.contents()) {
            if (c instanceof TextContent t) text.append(text.length() == 0 ? "" : " ").append(t.text());
        }
        return text.toString();
    }

    private static byte[] imageBytes(ImageContent ic) {
        if (ic.image().base64Data() == null) {
            throw new InferenceException("Only base64 images are accepted (the server fetches no URLs).");
        }
        try {
            return Base64.getDecoder().decode(ic.image().base64Data());
        } catch (IllegalArgumentException e) {
            throw new InferenceException("The image's base64 data is invalid: " + e.getMessage());
        }
    }

    static ChatResponse toResponse(GenerationResult r) {
        FinishReason finish = switch (r.finishReason()) {
            case STOP -> FinishReason.STOP;
            case LENGTH -> FinishReason.LENGTH;
            case CANCELLED -> FinishReason.OTHER;
        };
        return ChatResponse.builder()
                .aiMessage(AiMessage.from(r.displayText()))
                .metadata(GroundedResponseMetadata.builder().modelName(MODEL_NAME).finishReason(finish)
                        .tokenUsage(new TokenUsage(r.promptTokens(), r.completionTokens())).regions(r.regions()).build())
                .build();
    }
}

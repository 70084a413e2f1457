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
 * Maps LangChain4j requests onto engine requests and results back. The question is the last {@link UserMessage}'s
 * text; the image is the newest {@link ImageContent} (base64) among the user messages. Answers keep region labels
 * ("the red star [1].") and the regions travel in {@link GroundedResponseMetadata}.
 */
final class LangChainRequests {
    static final String MODEL_NAME = "groundchat-shapes-pix2emb";

    private LangChainRequests() {}

    static GenerationRequest toEngine(ChatRequest request, CancellationToken cancel) {
        List<ChatMessage> messages = request.messages();
        UserMessage last = null;
        byte[] image = null;
        for (ChatMessage m : messages) {
            if (m instanceof UserMessage u) {
                last = u;
                for (Content c : u.contents()) {
                    if (c instanceof ImageContent ic) image = imageBytes(ic);
                }
            }
        }
        if (last == null) throw new InferenceException("The request has no user message.");
        if (image == null) throw new InferenceException("The request has no image: add an ImageContent with base64 data.");
        StringBuilder text = new StringBuilder();
        for (Content c : last.contents()) {
            if (c instanceof TextContent t) text.append(text.length() == 0 ? "" : " ").append(t.text());
        }
        if (text.toString().isBlank()) throw new InferenceException("The user message has no text.");
        double temperature = request.parameters() != null && request.parameters().temperature() != null
                ? request.parameters().temperature() : 0;
        int maxTokens = request.parameters() != null && request.parameters().maxOutputTokens() != null
                ? request.parameters().maxOutputTokens() : 0;
        GenerationOptions options = new GenerationOptions(temperature, 1, 0, maxTokens, 0, true, true);
        return new GenerationRequest(image, List.of(PromptTurn.user(text.toString(), List.of())), options, null, cancel);
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

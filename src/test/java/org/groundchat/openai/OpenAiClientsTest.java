package org.groundchat.openai;

import static org.groundchat.security.SignedInByDefault.BOOTSTRAP_TOKEN;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.groundchat.NodeTests;
import org.junit.jupiter.api.Test;

/**
 * Clients people already have, unchanged, against the running app: LangChain4j's own OpenAI module, and the official
 * `openai` npm package (frontend/clients/, run by Node).
 */
@QuarkusTest
class OpenAiClientsTest {
    @TestHTTPResource("/v1")
    URI v1;

    static UserMessage askWithImage(String text) throws Exception {
        String png = Base64.getEncoder().encodeToString(Files.readAllBytes(Path.of("models/default/golden/case0.png")));
        return UserMessage.from(TextContent.from(text), ImageContent.from(png, "image/png"));
    }

    @Test
    void langChain4jOpenAiChatModelGetsAnAnswer() throws Exception {
        OpenAiChatModel model = OpenAiChatModel.builder().baseUrl(v1.toString()).apiKey(BOOTSTRAP_TOKEN)
                .modelName(OpenAiCompatibleTest.MODEL).build();
        ChatResponse r = model.chat(askWithImage("describe the image ."));
        assertFalse(r.aiMessage().text().isBlank(), "an answer");
        assertTrue(r.tokenUsage().inputTokenCount() > 70, "the image tokens are counted: " + r.tokenUsage());
        OpenAiChatModel wrongKey = OpenAiChatModel.builder().baseUrl(v1.toString()).apiKey("gc_wrong")
                .modelName(OpenAiCompatibleTest.MODEL).maxRetries(0).build();
        assertThrows(RuntimeException.class, () -> wrongKey.chat(askWithImage("describe the image .")));
    }

    @Test
    void langChain4jOpenAiStreamingChatModelStreams() throws Exception {
        OpenAiStreamingChatModel model = OpenAiStreamingChatModel.builder().baseUrl(v1.toString()).apiKey(BOOTSTRAP_TOKEN)
                .modelName(OpenAiCompatibleTest.MODEL).build();
        List<String> partials = new ArrayList<>();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        model.chat(List.of(askWithImage("describe the image .")), new StreamingChatResponseHandler() {
            @Override public void onPartialResponse(String partial) { partials.add(partial); }
            @Override public void onCompleteResponse(ChatResponse response) { done.complete(response); }
            @Override public void onError(Throwable error) { done.completeExceptionally(error); }
        });
        ChatResponse r = done.get(60, TimeUnit.SECONDS);
        assertTrue(partials.size() > 3, "several deltas: " + partials);
        assertEquals(r.aiMessage().text(), String.join("", partials));
    }

    @Test
    void theOfficialOpenAiNodePackageWorks() throws Exception {
        NodeTests.run("clients", Map.of("GROUNDCHAT_V1", v1.toString(), "GROUNDCHAT_TOKEN", BOOTSTRAP_TOKEN), 5,
                "openai npm client tests");
    }
}

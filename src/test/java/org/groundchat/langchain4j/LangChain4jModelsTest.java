package org.groundchat.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.groundchat.inference.EngineOptions;
import org.groundchat.inference.GroundingEngine;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Uses the model only through the LangChain4j API, as another Java program would. */
class LangChain4jModelsTest {
    static GroundingEngine engine;
    static String imageBase64;

    @BeforeAll
    static void open() throws Exception {
        Path dir = Path.of(System.getProperty("groundchat.bundle", "models/default"));
        engine = GroundingEngine.open(dir, EngineOptions.defaults().withBundleDir(dir));
        imageBase64 = Base64.getEncoder().encodeToString(Files.readAllBytes(dir.resolve("golden/case1.png")));
    }

    @AfterAll
    static void close() {
        engine.close();
    }

    static UserMessage question(String text) {
        return UserMessage.from(TextContent.from(text), ImageContent.from(imageBase64, "image/png"));
    }

    @Test
    void chatModelAnswersWithRegionLabelsAndRegionsInMetadata() {
        ChatModel model = new GroundedChatModel(engine);
        ChatResponse r = model.chat(ChatRequest.builder().messages(question("describe the image .")).build());
        GroundedResponseMetadata meta = assertInstanceOf(GroundedResponseMetadata.class, r.metadata());
        assertFalse(meta.regions().isEmpty(), r.aiMessage().text());
        meta.regions().forEach(reg -> assertTrue(r.aiMessage().text().contains(reg.label()), reg.label()));
        assertTrue(meta.tokenUsage().outputTokenCount() > 0);
    }

    @Test
    void streamingModelStreamsTheSameText() throws Exception {
        StreamingChatModel model = new GroundedStreamingChatModel(engine);
        StringBuilder partial = new StringBuilder();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        model.chat(ChatRequest.builder().messages(question("describe the image .")).build(), new StreamingChatResponseHandler() {
            @Override public void onPartialResponse(String s) { partial.append(s); }
            @Override public void onCompleteResponse(ChatResponse r) { done.complete(r); }
            @Override public void onError(Throwable t) { done.completeExceptionally(t); }
        });
        ChatResponse r = done.get(60, TimeUnit.SECONDS);
        assertEquals(r.aiMessage().text(), partial.toString());
        String sync = new GroundedChatModel(engine).chat(ChatRequest.builder().messages(question("describe the image .")).build())
                .aiMessage().text();
        assertEquals(sync, r.aiMessage().text());
    }

    @Test
    void aRequestWithoutImageIsRejectedWithAReason() {
        ChatModel model = new GroundedChatModel(engine);
        RuntimeException e = assertThrows(RuntimeException.class,
                () -> model.chat(ChatRequest.builder().messages(UserMessage.from("where is the red star ?")).build()));
        assertTrue(e.getMessage().contains("no image"), e.getMessage());
    }

    @Test
    void theWholeHistoryIsThePromptNotOnlyTheLastQuestion() {
        ChatModel model = new GroundedChatModel(engine);
        ChatResponse first = model.chat(ChatRequest.builder().messages(question("describe the image .")).build());
        ChatResponse alone = model.chat(ChatRequest.builder().messages(UserMessage.from(TextContent.from("where is the red star ?"),
                ImageContent.from(imageBase64, "image/png"))).build());
        ChatResponse followUp = model.chat(ChatRequest.builder().messages(question("describe the image ."), first.aiMessage(),
                UserMessage.from("where is the red star ?")).build());
        int earlier = first.metadata().tokenUsage().inputTokenCount() + first.metadata().tokenUsage().outputTokenCount();
        // the follow-up's prompt holds the first question, the first answer (labels dropped) and the new question
        assertTrue(followUp.metadata().tokenUsage().inputTokenCount() > alone.metadata().tokenUsage().inputTokenCount(),
                followUp.metadata().tokenUsage() + " vs " + alone.metadata().tokenUsage());
        assertTrue(followUp.metadata().tokenUsage().inputTokenCount() >= earlier - first.metadata().tokenUsage().outputTokenCount(),
                followUp.metadata().tokenUsage().toString());
    }

    @Test
    void builderOptionsAreTheDefaultsARequestCanOverride() {
        ChatModel shortAnswers = GroundedChatModel.builder().engine(engine).maxOutputTokens(4).masks(false).build();
        ChatResponse r = shortAnswers.chat(ChatRequest.builder().messages(question("describe the image .")).build());
        assertTrue(r.metadata().tokenUsage().outputTokenCount() <= 4, r.metadata().tokenUsage().toString());
        ChatResponse longer = shortAnswers.chat(ChatRequest.builder().messages(question("describe the image ."))
                .maxOutputTokens(40).build());
        assertTrue(longer.metadata().tokenUsage().outputTokenCount() > 4, longer.metadata().tokenUsage().toString());
    }

    @Test
    void aHistoryThatDoesNotEndWithTheUsersQuestionIsRejected() {
        ChatModel model = new GroundedChatModel(engine);
        ChatResponse first = model.chat(ChatRequest.builder().messages(question("describe the image .")).build());
        RuntimeException e = assertThrows(RuntimeException.class,
                () -> model.chat(ChatRequest.builder().messages(question("describe the image ."), first.aiMessage()).build()));
        assertTrue(e.getMessage().contains("user message last"), e.getMessage());
    }
}

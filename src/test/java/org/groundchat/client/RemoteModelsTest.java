package org.groundchat.client;

import static io.restassured.RestAssured.given;
import static org.groundchat.security.SignedInByDefault.BOOTSTRAP_TOKEN;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The remote LangChain4j models against the running app over HTTP, as a Java program with only the client would use them. */
@QuarkusTest
class RemoteModelsTest {
    @TestHTTPResource("/")
    URI base;

    static UserMessage withImage(String text, int golden) throws Exception {
        String png = Base64.getEncoder().encodeToString(Files.readAllBytes(Path.of("models/default/golden/case" + golden + ".png")));
        return UserMessage.from(TextContent.from(text), ImageContent.from(png, "image/png"));
    }

    GroundChatChatModel model() {
        return GroundChatChatModel.builder().baseUrl(base.toString()).apiKey(BOOTSTRAP_TOKEN).build();
    }

    GroundChatStreamingChatModel streaming() {
        return GroundChatStreamingChatModel.builder().baseUrl(base.toString()).apiKey(BOOTSTRAP_TOKEN).build();
    }

    @Test
    void anAnswerCarriesItsRegions() throws Exception {
        ChatResponse r = model().chat(withImage("describe the image .", 0));
        assertFalse(r.aiMessage().text().isBlank());
        GroundChatResponseMetadata meta = (GroundChatResponseMetadata) r.metadata();
        assertNotNull(meta.conversationId());
        assertFalse(meta.regions().isEmpty(), "regions in the metadata");
        GroundChatRegion first = meta.regions().get(0);
        assertEquals(first.phrase(), r.aiMessage().text().substring(first.phraseStart(), first.phraseEnd()));
        assertTrue(first.box()[2] > first.box()[0] && first.box()[3] > first.box()[1], "a pixel box");
        assertTrue(first.maskCounts().length > 0 && first.maskHeight() > 0, "a mask");
        assertTrue(r.tokenUsage().inputTokenCount() > 70);
    }

    @Test
    void streamingDeliversDeltasRegionsAndTheWholeAnswer() throws Exception {
        List<String> deltas = new ArrayList<>();
        List<GroundChatRegion> streamed = new ArrayList<>();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        streaming().chat(List.of(withImage("describe the image .", 1)), new GroundChatStreamingHandler() {
            @Override public void onPartialResponse(String partial) { deltas.add(partial); }
            @Override public void onRegion(GroundChatRegion region) { streamed.add(region); }
            @Override public void onCompleteResponse(ChatResponse response) { done.complete(response); }
            @Override public void onError(Throwable error) { done.completeExceptionally(error); }
        });
        ChatResponse r = done.get(60, TimeUnit.SECONDS);
        assertTrue(deltas.size() > 3, "deltas: " + deltas);
        assertEquals(r.aiMessage().text(), String.join("", deltas));
        assertFalse(streamed.isEmpty(), "regions while streaming");
        assertEquals(streamed.size(), ((GroundChatResponseMetadata) r.metadata()).regions().size());
    }

    @Test
    void aThreeTurnHistoryContinuesOneConversationAndResolvesEarlierRegions() throws Exception {
        GroundChatChatModel model = model();
        List<ChatMessage> memory = new ArrayList<>();
        memory.add(withImage("describe the image .", 2));
        ChatResponse first = model.chat(memory);
        String conversation = ((GroundChatResponseMetadata) first.metadata()).conversationId();
        assertTrue(first.aiMessage().text().contains("[1]"), first.aiMessage().text());
        memory.add(first.aiMessage());
        memory.add(UserMessage.from("what is [1] ?"));
        ChatResponse second = model.chat(memory);
        assertEquals(conversation, ((GroundChatResponseMetadata) second.metadata()).conversationId());
        memory.add(second.aiMessage());
        memory.add(UserMessage.from("what color is [1] ?"));
        ChatResponse third = model.chat(memory);
        assertEquals(conversation, ((GroundChatResponseMetadata) third.metadata()).conversationId());
        given().header("Authorization", "Bearer " + BOOTSTRAP_TOKEN).get("/api/conversations/" + conversation)
                .then().statusCode(200).body("messages.size()", org.hamcrest.Matchers.equalTo(6));
        // a history the client never answered starts a new conversation, sent whole
        List<ChatMessage> edited = new ArrayList<>(memory.subList(0, 1));
        edited.add(dev.langchain4j.data.message.AiMessage.from("there is a shape [1] ."));
        edited.add(UserMessage.from("how many objects are there ?"));
        ChatResponse other = model.chat(edited);
        assertFalse(conversation.equals(((GroundChatResponseMetadata) other.metadata()).conversationId()));
    }

    @Test
    void cancellingAStreamStopsTheAnswer() throws Exception {
        CountDownLatch cancelled = new CountDownLatch(1);
        AtomicInteger partials = new AtomicInteger();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        streaming().chat(List.of(withImage("describe the image .", 3)), new GroundChatStreamingHandler() {
            @Override public void onPartialResponse(PartialResponse partial, PartialResponseContext context) {
                partials.incrementAndGet();
                context.streamingHandle().cancel();
                cancelled.countDown();
            }
            @Override public void onCompleteResponse(ChatResponse response) { done.complete(response); }
            @Override public void onError(Throwable error) { done.completeExceptionally(error); }
        });
        assertTrue(cancelled.await(30, TimeUnit.SECONDS));
        Thread.sleep(1500);
        assertFalse(done.isDone(), "no completion (and no error) after cancel");
        assertEquals(1, partials.get(), "nothing delivered after cancel");
        // the server stopped the answer and stored it as cancelled
        String status = null;
        for (int i = 0; i < 50 && !"cancelled".equals(status); i++) {
            String id = given().header("Authorization", "Bearer " + BOOTSTRAP_TOKEN).queryParam("size", 1)
                    .get("/api/conversations").then().extract().path("items[0].id");
            status = given().header("Authorization", "Bearer " + BOOTSTRAP_TOKEN).get("/api/conversations/" + id)
                    .then().extract().path("messages[1].status");
            Thread.sleep(100);
        }
        assertEquals("cancelled", status);
    }

    @Test
    void badInputIsAClearException() throws Exception {
        GroundChatChatModel model = model();
        InvalidRequestException noImage = assertThrows(InvalidRequestException.class, () -> model.chat(UserMessage.from("describe the image .")));
        assertTrue(noImage.getMessage().contains("image"), noImage.getMessage());
        InvalidRequestException badBase64 = assertThrows(InvalidRequestException.class, () -> model.chat(
                UserMessage.from(TextContent.from("hi"), ImageContent.from("@@@not base64@@@", "image/png"))));
        assertTrue(badBase64.getMessage().contains("base64"), badBase64.getMessage());
        GroundChatChatModel unknown = GroundChatChatModel.builder().baseUrl(base.toString()).apiKey(BOOTSTRAP_TOKEN)
                .conversationId(UUID.randomUUID().toString()).build();
        InvalidRequestException gone = assertThrows(InvalidRequestException.class, () -> unknown.chat(UserMessage.from("what is [1] ?")));
        assertTrue(gone.getMessage().toLowerCase().contains("conversation"), gone.getMessage());
        assertThrows(dev.langchain4j.exception.AuthenticationException.class, () -> GroundChatChatModel.builder()
                .baseUrl(base.toString()).apiKey("gc_wrong").build().chat(withImage("hi", 0)));
    }
}

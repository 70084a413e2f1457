package org.groundchat.openai;

import static io.restassured.RestAssured.given;
import static org.groundchat.security.SignedInByDefault.anonymous;
import static org.groundchat.security.SignedInByDefault.as;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.hasSize;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.emptyOrNullString;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.UUID;
import javax.imageio.ImageIO;
import org.groundchat.api.AccessControlTest;
import org.junit.jupiter.api.Test;

/** POST /v1/chat/completions and GET /v1/models over HTTP, with the real model and database. */
@QuarkusTest
class OpenAiCompatibleTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String MODEL = "groundchat-shapes-pix2emb";

    static String dataUrl(int golden) throws Exception {
        byte[] png = Files.readAllBytes(Path.of("models/default/golden/case" + golden + ".png"));
        return "data:image/png;base64," + Base64.getEncoder().encodeToString(png);
    }

    static ObjectNode userMessage(String text, String imageUrl) {
        ObjectNode m = JSON.createObjectNode().put("role", "user");
        if (imageUrl == null) return m.put("content", text);
        ArrayNode parts = m.putArray("content");
        parts.addObject().put("type", "text").put("text", text);
        parts.addObject().put("type", "image_url").putObject("image_url").put("url", imageUrl);
        return m;
    }

    static ObjectNode request(ObjectNode... messages) {
        ObjectNode r = JSON.createObjectNode().put("model", MODEL);
        ArrayNode list = r.putArray("messages");
        for (ObjectNode m : messages) list.add(m);
        return r;
    }

    static Response post(Object body) {
        return given().contentType(ContentType.JSON).body(body.toString()).post("/v1/chat/completions");
    }

    @Test
    void modelsListTheBundle() {
        given().get("/v1/models").then().statusCode(200).body("object", equalTo("list"))
                .body("data", hasSize(1)).body("data[0].id", equalTo(MODEL)).body("data[0].object", equalTo("model"))
                .body("data[0].groundchat.grounding", hasSize(4));
        given().get("/v1/models/" + MODEL).then().statusCode(200).body("id", equalTo(MODEL));
        given().get("/v1/models/gpt-4o").then().statusCode(404).body("error.code", equalTo("model_not_found"));
    }

    @Test
    void aCompletionAnswersWithGroundedRegionsAndIsStored() throws Exception {
        Response r = post(request(userMessage("describe the image .", dataUrl(0))));
        r.then().statusCode(200).body("object", equalTo("chat.completion")).body("model", equalTo(MODEL))
                .body("choices[0].message.role", equalTo("assistant"))
                .body("choices[0].message.content", not(emptyOrNullString()))
                .body("choices[0].finish_reason", equalTo("stop"))
                .body("usage.prompt_tokens", greaterThan(70)).body("usage.completion_tokens", greaterThan(0))
                .body("groundchat.regions.size()", greaterThan(0));
        JsonNode body = JSON.readTree(r.asString());
        JsonNode region = body.path("groundchat").path("regions").get(0);
        assertEquals(4, region.path("box").size(), "box in image pixels: " + region);
        assertTrue(region.path("mask").path("counts").size() > 0, "mask RLE: " + region);
        String text = body.path("choices").get(0).path("message").path("content").asText();
        assertEquals(region.path("phrase").asText(),
                text.substring(region.path("phraseStart").asInt(), region.path("phraseEnd").asInt()), "phrase span");
        String conversation = r.header(OpenAiResource.CONVERSATION_HEADER);
        assertEquals(body.path("groundchat").path("conversation_id").asText(), conversation);
        given().get("/api/conversations/" + conversation).then().statusCode(200)
                .body("messages", hasSize(2)).body("messages[1].text", equalTo(text))
                .body("messages[1].status", equalTo("complete"));
    }

    @Test
    void streamedChunksAddUpToTheStoredAnswer() throws Exception {
        ObjectNode req = request(userMessage("describe the image .", dataUrl(1))).put("stream", true);
        req.putObject("stream_options").put("include_usage", true);
        Response r = post(req);
        r.then().statusCode(200).contentType(org.hamcrest.Matchers.startsWith("text/event-stream"));
        List<String> data = new ArrayList<>();
        for (String line : r.asString().split("\n")) if (line.startsWith("data: ")) data.add(line.substring(6));
        assertEquals("[DONE]", data.get(data.size() - 1), "stream ends with [DONE]");
        StringBuilder text = new StringBuilder();
        int regionChunks = 0, finals = 0;
        JsonNode last = null, usage = null;
        for (String d : data.subList(0, data.size() - 1)) {
            JsonNode chunk = JSON.readTree(d);
            assertEquals("chat.completion.chunk", chunk.path("object").asText());
            if (chunk.has("usage")) { usage = chunk.path("usage"); continue; }
            JsonNode choice = chunk.path("choices").get(0);
            text.append(choice.path("delta").path("content").asText(""));
            if (chunk.path("groundchat").has("region")) {
                regionChunks++;
                assertEquals(0, finals, "regions stream before the end");
            }
            if (!choice.path("finish_reason").isNull()) { finals++; last = chunk; }
        }
        assertEquals(1, finals);
        assertTrue(regionChunks > 0, "regions arrive while the answer streams");
        assertEquals(regionChunks, last.path("groundchat").path("regions").size());
        assertTrue(usage != null && usage.path("total_tokens").asInt() > 0, "usage chunk");
        String conversation = r.header(OpenAiResource.CONVERSATION_HEADER);
        given().get("/api/conversations/" + conversation).then().statusCode(200).body("messages[1].text", equalTo(text.toString()));
    }

    @Test
    void aConversationContinuesByItsIdAndRefersToEarlierRegions() throws Exception {
        Response first = post(request(userMessage("describe the image .", dataUrl(2))));
        first.then().statusCode(200).body("groundchat.regions.size()", greaterThan(0));
        String conversation = first.header(OpenAiResource.CONVERSATION_HEADER);
        Response second = given().contentType(ContentType.JSON).header(OpenAiResource.CONVERSATION_HEADER, conversation)
                .body(request(userMessage("what is [1] ?", null)).toString()).post("/v1/chat/completions");
        second.then().statusCode(200).body("choices[0].message.content", not(emptyOrNullString()));
        assertEquals(conversation, second.header(OpenAiResource.CONVERSATION_HEADER));
        ObjectNode third = request(userMessage("what color is [1] ?", null)).put("conversation_id", conversation);
        post(third).then().statusCode(200);
        given().get("/api/conversations/" + conversation).then().statusCode(200).body("messages", hasSize(6));
    }

    @Test
    void earlierExchangesOfANewConversationAreStoredAsHistory() throws Exception {
        ObjectNode req = request(JSON.createObjectNode().put("role", "system").put("content", "You are helpful."),
                userMessage("how many objects are there ?", dataUrl(0)),
                JSON.createObjectNode().put("role", "assistant").put("content", "there are 5 objects ."),
                userMessage("describe the image .", null));
        Response r = post(req);
        r.then().statusCode(200);
        given().get("/api/conversations/" + r.header(OpenAiResource.CONVERSATION_HEADER)).then().statusCode(200)
                .body("messages", hasSize(4)).body("messages[1].text", equalTo("there are 5 objects ."))
                .body("messages[3].status", equalTo("complete"));
    }

    @Test
    void historyTextIsTakenLiterallyAndCheckedLikeAnyMessage() throws Exception {
        // markup and references in a replayed history are plain words: this answer and the next turn both work
        ObjectNode req = request(userMessage("what is [1] ?", dataUrl(0)),
                JSON.createObjectNode().put("role", "assistant").put("content", "it is a <boxes> <at> thing ."),
                userMessage("describe the image .", null));
        Response r = post(req);
        r.then().statusCode(200).body("groundchat.status", equalTo("complete"));
        String conversation = r.header(OpenAiResource.CONVERSATION_HEADER);
        given().get("/api/conversations/" + conversation).then().statusCode(200)
                .body("messages[0].text", equalTo("what is [1] ?")).body("messages[1].text", equalTo("it is a <boxes> <at> thing ."));
        given().contentType(ContentType.JSON).header(OpenAiResource.CONVERSATION_HEADER, conversation)
                .body(request(userMessage("how many objects are there ?", null)).toString()).post("/v1/chat/completions")
                .then().statusCode(200).body("groundchat.status", equalTo("complete"));
        int before = conversationCount();
        ObjectNode nul = request(userMessage("describe the image .", dataUrl(0)),
                JSON.createObjectNode().put("role", "assistant").put("content", "a\u0000b"), userMessage("and now ?", null));
        post(nul).then().statusCode(400).header("x-should-retry", "false").body("error.code", equalTo("invalid_text"))
                .body("error.param", equalTo("messages[1].content"));
        ObjectNode longHistory = request(userMessage("x".repeat(2001), dataUrl(0)),
                JSON.createObjectNode().put("role", "assistant").put("content", "ok ."), userMessage("and now ?", null));
        post(longHistory).then().statusCode(400).body("error.code", equalTo("text_too_long"));
        assertEquals(before, conversationCount(), "refused histories store no conversation");
    }

    @Test
    void badRequestsGetOpenAiErrorsAndStoreNothing() throws Exception {
        int before = conversationCount();
        String image = dataUrl(0);
        post("{").then().statusCode(400).body("error.code", equalTo("invalid_json"))
                .body("error.type", equalTo("invalid_request_error"));
        post(JSON.createObjectNode().put("model", MODEL)).then().statusCode(400).body("error.param", equalTo("messages"));
        post(request(JSON.createObjectNode().put("role", "tool").put("content", "x"))).then().statusCode(400)
                .body("error.param", equalTo("messages[0].role"));
        post(request(userMessage("what is it ?", "https://example.com/cat.png"))).then().statusCode(400)
                .body("error.code", equalTo("unsupported_image_url"));
        post(request(userMessage("what is it ?", "data:image/png;base64,@@not-base64@@"))).then().statusCode(400)
                .body("error.code", equalTo("invalid_image_url"));
        post(request(userMessage("describe the image .", image)).put("n", 2)).then().statusCode(400)
                .body("error.param", equalTo("n"));
        ObjectNode tools = request(userMessage("describe the image .", image));
        tools.putArray("tools").addObject().put("type", "function");
        post(tools).then().statusCode(400).body("error.param", equalTo("tools"));
        post(request(userMessage("describe the image .", image)).put("model", "gpt-4o")).then().statusCode(404)
                .body("error.code", equalTo("model_not_found"));
        post(request(userMessage("describe the image .", null))).then().statusCode(400)
                .body("error.code", equalTo("image_required"));
        post(request(userMessage("   ", image))).then().statusCode(400).body("error.code", equalTo("empty_text"));
        post(request(userMessage("describe the image .", image)).put("temperature", 9)).then().statusCode(400)
                .body("error.param", equalTo("temperature"));
        BufferedImage huge = new BufferedImage(2100, 2000, BufferedImage.TYPE_INT_RGB);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(huge, "png", out);
        post(request(userMessage("describe the image .", "data:image/png;base64,"
                + Base64.getEncoder().encodeToString(out.toByteArray())))).then().statusCode(413)
                .body("error.code", equalTo("image_too_large"));
        given().contentType(ContentType.JSON).header(OpenAiResource.CONVERSATION_HEADER, UUID.randomUUID().toString())
                .body(request(userMessage("describe the image .", null)).toString()).post("/v1/chat/completions")
                .then().statusCode(404).body("error.code", equalTo("unknown_conversation"));
        assertEquals(before, conversationCount(), "refused requests store no conversation");
        Response ok = post(request(userMessage("describe the image .", image)));
        String reason = ok.then().statusCode(200).extract().asString();
        assertFalse(reason.contains("Exception"), reason);
    }

    @Test
    void onlyItsAccountReachesAConversationAndSignInIsRequired() throws Exception {
        anonymous().get("/v1/models").then().statusCode(401);
        anonymous().contentType(ContentType.JSON).body(request(userMessage("describe the image .", dataUrl(0))).toString())
                .post("/v1/chat/completions").then().statusCode(401);
        String conversation = post(request(userMessage("describe the image .", dataUrl(0))))
                .then().statusCode(200).extract().header(OpenAiResource.CONVERSATION_HEADER);
        String other = AccessControlTest.newUserToken("user");
        as(other).contentType(ContentType.JSON).header(OpenAiResource.CONVERSATION_HEADER, conversation)
                .body(request(userMessage("what is [1] ?", null)).toString()).post("/v1/chat/completions")
                .then().statusCode(404).body("error.code", equalTo("unknown_conversation"));
    }

    private static int conversationCount() {
        Number total = given().queryParam("size", 1).get("/api/conversations").then().statusCode(200).extract().path("total");
        return total.intValue();
    }
}

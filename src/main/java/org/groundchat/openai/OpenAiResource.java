package org.groundchat.openai;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.security.identity.SecurityIdentity;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.groundchat.chat.ChatException;
import org.groundchat.chat.TurnCoordinator;
import org.groundchat.inference.ChatEngine;
import org.groundchat.security.Caller;

/**
 * The OpenAI-compatible surface: {@code GET /v1/models} and {@code POST /v1/chat/completions}, so that OpenAI
 * clients (the official SDKs, LangChain4j's OpenAI module, anything that speaks to Ollama or vLLM) talk to GroundChat
 * unchanged. Grounding travels in the extension field {@code groundchat}, which standard clients ignore.
 * Answers run through the same coordinator, store and limits as WebSocket turns; the conversation id comes back in
 * the {@code X-GroundChat-Conversation} header, and sending it back continues that conversation.
 */
@Path("/v1")
public class OpenAiResource {
    static final String CONVERSATION_HEADER = "X-GroundChat-Conversation";

    @Inject
    ChatEngine engine;
    @Inject
    TurnCoordinator coordinator;
    @Inject
    OpenAiConversations conversations;
    @Inject
    SecurityIdentity identity;
    @Inject
    ObjectMapper json;

    @GET
    @Path("/models")
    @Produces(MediaType.APPLICATION_JSON)
    public Map<String, Object> models() {
        return Map.of("object", "list", "data", List.of(CompletionJson.model(engine.bundle())));
    }

    @GET
    @Path("/models/{id}")
    @Produces(MediaType.APPLICATION_JSON)
    public Map<String, Object> model(@PathParam("id") String id) {
        checkModel(id);
        return CompletionJson.model(engine.bundle());
    }

    @POST
    @Path("/chat/completions")
    @Consumes(MediaType.WILDCARD)
    @Produces({MediaType.APPLICATION_JSON, MediaType.SERVER_SENT_EVENTS})
    public Response complete(String body, @HeaderParam(CONVERSATION_HEADER) String conversationHeader) {
        ChatCompletionRequest req = ChatCompletionRequest.parse(parse(body));
        if (req.model() != null) checkModel(req.model());
        UUID account = Caller.of(identity).accountId();
        try {
            String continued = conversationHeader != null && !conversationHeader.isBlank() ? conversationHeader : req.conversationId();
            TurnEventQueue events = new TurnEventQueue();
            UUID conversationId = conversations.submit(account, continued, req, events);
            CompletionStream completion = new CompletionStream(json, coordinator, engine.bundle().path("name").asText(),
                    conversationId, events, req.includeUsage());
            if (req.stream()) {
                return Response.ok(completion.asEventStream()).type(MediaType.SERVER_SENT_EVENTS)
                        .header("Cache-Control", "no-cache").header(CONVERSATION_HEADER, conversationId).build();
            }
            return Response.ok(completion.await()).type(MediaType.APPLICATION_JSON)
                    .header(CONVERSATION_HEADER, conversationId).build();
        } catch (ChatException e) {
            throw OpenAiException.of(e);
        }
    }

    private JsonNode parse(String body) {
        try {
            return body == null || body.isBlank() ? null : json.readTree(body);
        } catch (JsonProcessingException e) {
            throw OpenAiException.invalid(null, "invalid_json", "The request body is not valid JSON.");
        }
    }

    private void checkModel(String id) {
        String name = engine.bundle().path("name").asText();
        if (!name.equals(id) && !"groundchat".equals(id)) {
            throw new OpenAiException(404, "invalid_request_error", "model_not_found", "model",
                    "The model '" + id + "' does not exist; this server serves '" + name + "' (GET /v1/models).");
        }
    }
}

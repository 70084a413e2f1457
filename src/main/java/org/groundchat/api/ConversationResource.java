package org.groundchat.api;

import org.groundchat.chat.ChatException;
import io.quarkus.security.identity.SecurityIdentity;
import jakarta.inject.Inject;
import java.util.UUID;
import org.groundchat.security.Caller;
import org.groundchat.chat.Quotas;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.PATCH;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.groundchat.chat.view.ConversationJson;
import org.groundchat.chat.view.PageJson;
import org.groundchat.chat.ConversationExport;
import org.groundchat.chat.ConversationService;
import org.groundchat.chat.Ids;
import org.groundchat.chat.TurnCoordinator;

/** Conversations: create, list (paged, newest first), view with messages and regions, rename, delete, export. */
@Path("/api/conversations")
@Produces(MediaType.APPLICATION_JSON)
public class ConversationResource {
    @Inject
    ConversationService conversations;
    @Inject
    ConversationExport export;
    @Inject
    TurnCoordinator turns;
    @Inject
    SecurityIdentity identity;
    @Inject
    Quotas quotas;

    private UUID account() {
        return Caller.of(identity).accountId();
    }

    public record CreateBody(String title, String owner, String imageId) {}

    public record RenameBody(String title) {}

    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    public Response create(CreateBody body) {
        CreateBody b = body == null ? new CreateBody(null, null, null) : body;
        quotas.take(account(), Quotas.Rate.CONVERSATIONS);
        ConversationJson c = conversations.create(account(), b.title(), b.owner(),
                b.imageId() == null || b.imageId().isBlank() ? null : Ids.parse(b.imageId(), "image"));
        return Response.status(201).entity(c).build();
    }

    @GET
    public PageJson<ConversationJson> list(@QueryParam("page") String page, @QueryParam("size") String size) {
        int pageSize = QueryInts.parse(size, 20, "size", 1, ConversationService.MAX_PAGE_SIZE);
        // the row offset page * size must stay an int for the database query
        return conversations.list(account(), QueryInts.parse(page, 0, "page", 0, Integer.MAX_VALUE / pageSize), pageSize);
    }

    @GET
    @Path("/{id}")
    public ConversationJson get(@PathParam("id") String id) {
        return conversations.view(Ids.parse(id, "conversation"), account());
    }

    @PATCH
    @Path("/{id}")
    @Consumes(MediaType.APPLICATION_JSON)
    public ConversationJson rename(@PathParam("id") String id, RenameBody body) {
        if (body == null) throw ChatException.badRequest("invalid_title", "Send {\"title\": \"...\"}.");
        return conversations.rename(Ids.parse(id, "conversation"), account(), body.title());
    }

    /**
     * 204 as always; with {@code Prefer: return=representation} (RFC 7240) 200 and {@code {"deleted": id,
     * "unusedImages": [ids]}}: the caller's images that none of its other conversations shows any more, which a
     * client may offer to delete too ({@code DELETE /api/images/{id}}). The UI asks for it.
     */
    @DELETE
    @Path("/{id}")
    public Response delete(@PathParam("id") String id, @HeaderParam("Prefer") List<String> prefer) {
        var conversationId = Ids.parse(id, "conversation");
        UUID account = account();
        conversations.requireAccess(conversationId, account);
        List<List<UUID>> unused = new ArrayList<>(1);
        turns.whileNoTurn(conversationId, () -> unused.add(conversations.delete(conversationId, account)));
        if (!prefersRepresentation(prefer)) return Response.noContent().build();
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("deleted", conversationId);
        body.put("unusedImages", unused.get(0));
        return Response.ok(body).header("Preference-Applied", "return=representation").build();
    }

    /** Whether a Prefer header (one or several, comma separated) asks for return=representation. */
    static boolean prefersRepresentation(List<String> prefer) {
        if (prefer == null) return false;
        for (String header : prefer) {
            if (header == null) continue;
            for (String preference : header.split(",")) {
                String p = preference.split(";", 2)[0].replace(" ", "").replace("\t", "");
                if (p.equalsIgnoreCase("return=representation") || p.equalsIgnoreCase("return=\"representation\"")) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * Stops the conversation's running or waiting answer (stored as cancelled), for HTTP clients that have no
     * WebSocket to send {@code cancel} on. {@code cancelled: false} when no answer was running.
     */
    @POST
    @Path("/{id}/cancel")
    public Map<String, Object> cancel(@PathParam("id") String id) {
        var conversationId = Ids.parse(id, "conversation");
        conversations.requireAccess(conversationId, account());
        return Map.of("cancelled", turns.cancel(conversationId));
    }

    @GET
    @Path("/{id}/export")
    public Response exportJson(@PathParam("id") String id) {
        var conversationId = Ids.parse(id, "conversation");
        return Response.ok(conversations.view(conversationId, account()))
                .header("Content-Disposition", "attachment; filename=\"conversation-" + conversationId + ".json\"").build();
    }

    @GET
    @Path("/{id}/export/coco")
    public Response exportCoco(@PathParam("id") String id) {
        var conversationId = Ids.parse(id, "conversation");
        Map<String, Object> coco = export.coco(conversationId, account());
        return Response.ok(coco)
                .header("Content-Disposition", "attachment; filename=\"regions-" + conversationId + ".coco.json\"").build();
    }
}

package org.groundchat.api;

import org.groundchat.chat.ChatException;
import io.quarkus.security.identity.SecurityIdentity;
import jakarta.inject.Inject;
import java.util.UUID;
import org.groundchat.security.Caller;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import io.vertx.core.http.HttpServerRequest;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.io.IOException;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.groundchat.chat.view.ImageJson;
import org.groundchat.chat.Ids;
import org.groundchat.chat.ImageService;
import org.groundchat.chat.TurnCoordinator;
import org.groundchat.inference.CancellationToken;
import org.groundchat.inference.DenseCaption;
import org.groundchat.inference.ChatEngine;
import org.groundchat.persistence.ImageEntity;
import org.jboss.resteasy.reactive.RestForm;
import org.jboss.resteasy.reactive.multipart.FileUpload;

/** Image upload (multipart field "file"; identical bytes give the same id), download, dense captions. */
@Path("/api/images")
public class ImageResource {
    @Inject
    ImageService images;
    @Inject
    ChatEngine engine;
    @Inject
    SecurityIdentity identity;
    @Inject
    TurnCoordinator turns;
    @Context
    HttpServerRequest request;

    private UUID account() {
        return Caller.of(identity).accountId();
    }

    @POST
    @Consumes(MediaType.MULTIPART_FORM_DATA)
    @Produces(MediaType.APPLICATION_JSON)
    public Response upload(@RestForm("file") FileUpload file) throws IOException {
        if (file == null) throw ChatException.badRequest("missing_file", "Send the image as multipart field 'file'.");
        ImageEntity e = images.upload(Files.readAllBytes(file.uploadedFile()), account());
        return Response.status(201).entity(ImageJson.of(e)).build();
    }

    @GET
    @Path("/{id}")
    public Response download(@PathParam("id") String id) {
        UUID account = account();
        ImageEntity e = images.get(Ids.parse(id, "image"), account);
        // an image id never changes its bytes, but only its owners may see them: no shared caches
        return Response.ok(images.content(e.id, account), e.mimeType)
                .header("Cache-Control", "private, max-age=31536000, immutable").build();
    }

    /**
     * The caller gives the image up: 204, and its bytes are deleted once no account owns them. 404 for an image the
     * caller does not own, as for an unknown id. 409 image_in_use while one of their conversations shows it, also
     * with {@code ?force=true}: a stored conversation never loses its picture.
     */
    @DELETE
    @Path("/{id}")
    public Response delete(@PathParam("id") String id, @QueryParam("force") String force) {
        images.delete(Ids.parse(id, "image"), account(), "true".equalsIgnoreCase(force));
        return Response.noContent().build();
    }

    @POST
    @Path("/{id}/dense-captions")
    @Produces(MediaType.APPLICATION_JSON)
    public Map<String, Object> denseCaptions(@PathParam("id") String id, @QueryParam("max") String maxParam) {
        int max = QueryInts.parse(maxParam, 8, "max", 1, 32);
        if (!engine.hasDenseCaptions()) {
            throw ChatException.unprocessable("not_supported", "This model proposes no regions of its own: ask about "
                    + "the image in a conversation instead.");
        }
        UUID account = account();
        byte[] bytes = images.content(Ids.parse(id, "image"), account);
        // a client that hangs up stops the captions still to come
        CancellationToken cancel = new CancellationToken();
        request.response().closeHandler(v -> cancel.cancel());
        List<DenseCaption> captions = turns.runAnswerJob(account, cancel, c -> engine.denseCaptions(bytes, max, c));
        return Map.of("regions", captions.stream().map(c -> Map.of("box", c.box().toArray(), "caption", c.caption(),
                "score", c.score())).toList());
    }
}

package org.groundchat.api;

import org.groundchat.chat.ChatException;
import jakarta.annotation.security.RolesAllowed;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.PATCH;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.List;
import org.groundchat.chat.Ids;
import org.groundchat.security.Accounts;

/** Admins manage accounts: list, create, disable/enable, change role or password, delete. */
@Path("/api/admin/users")
@Produces(MediaType.APPLICATION_JSON)
@RolesAllowed("admin")
public class AdminResource {
    @Inject
    Accounts accounts;

    public record CreateBody(String username, String password, String role) {}

    public record UpdateBody(Boolean disabled, String role, String password) {}

    @GET
    public List<Accounts.AccountJson> list() {
        return accounts.list();
    }

    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    public Response create(CreateBody body) {
        if (body == null) throw ChatException.badRequest("invalid_username", "Send {\"username\", \"password\", \"role\"}.");
        return Response.status(201).entity(accounts.create(body.username(), body.password(), body.role())).build();
    }

    @PATCH
    @Path("/{id}")
    @Consumes(MediaType.APPLICATION_JSON)
    public Accounts.AccountJson update(@PathParam("id") String id, UpdateBody body) {
        if (body == null) throw ChatException.badRequest("invalid_update", "Send {\"disabled\", \"role\", \"password\"}.");
        return accounts.update(Ids.parse(id, "account"), body.disabled(), body.role(), body.password());
    }

    @DELETE
    @Path("/{id}")
    public Response delete(@PathParam("id") String id) {
        accounts.delete(Ids.parse(id, "account"));
        return Response.noContent().build();
    }
}

package org.groundchat.api;

import org.groundchat.chat.ChatException;
import io.quarkus.security.identity.SecurityIdentity;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.PUT;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.NewCookie;
import jakarta.ws.rs.core.Response;
import java.util.List;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.groundchat.chat.Ids;
import org.groundchat.security.Accounts;
import org.groundchat.security.Caller;

/** The signed-in account: who am I, my password, my API tokens, sign out. */
@Path("/api/me")
@Produces(MediaType.APPLICATION_JSON)
public class AccountResource {
    @Inject
    Accounts accounts;
    @Inject
    SecurityIdentity identity;
    @ConfigProperty(name = "quarkus.http.auth.form.cookie-name", defaultValue = "quarkus-credential")
    String sessionCookie;

    public record PasswordBody(String currentPassword, String newPassword) {}

    public record TokenBody(String name) {}

    @GET
    public Accounts.AccountJson me() {
        return accounts.me(Caller.of(identity).accountId());
    }

    @PUT
    @Path("/password")
    @Consumes(MediaType.APPLICATION_JSON)
    public Response changePassword(PasswordBody body) {
        if (body == null) throw ChatException.badRequest("invalid_password", "Send {\"currentPassword\", \"newPassword\"}.");
        accounts.changePassword(Caller.of(identity).accountId(), body.currentPassword(), body.newPassword());
        return Response.noContent().build();
    }

    /** Ends the browser session: the session cookie is removed (programs simply stop sending their token). */
    @POST
    @Path("/logout")
    public Response logout() {
        NewCookie expired = new NewCookie.Builder(sessionCookie).value("").path("/").maxAge(0).httpOnly(true)
                .sameSite(NewCookie.SameSite.STRICT).build();
        return Response.noContent().cookie(expired).build();
    }

    @GET
    @Path("/tokens")
    public List<Accounts.TokenJson> tokens() {
        return accounts.tokens(Caller.of(identity).accountId());
    }

    @POST
    @Path("/tokens")
    @Consumes(MediaType.APPLICATION_JSON)
    public Response createToken(TokenBody body) {
        var created = accounts.createToken(Caller.of(identity).accountId(), body == null ? null : body.name());
        return Response.status(201).entity(created).build();
    }

    @DELETE
    @Path("/tokens/{id}")
    public Response revokeToken(@PathParam("id") String id) {
        accounts.revokeToken(Caller.of(identity).accountId(), Ids.parse(id, "token"));
        return Response.noContent().build();
    }
}

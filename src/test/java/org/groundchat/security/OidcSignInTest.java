package org.groundchat.security;

import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import org.junit.jupiter.api.Test;

import java.net.CookieManager;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sign-in through an OpenID Connect provider (a real HTTP mock issuer with signed ID tokens): the browser's redirect
 * chain ends on the app with its usual session cookie; the provider's subject maps to one local account, made at the
 * first sign-in; a disabled account is refused; without a session the API stays closed.
 */
@QuarkusTest
@QuarkusTestResource(value = MockOidcProvider.class, restrictToAnnotatedClass = true)
class OidcSignInTest {
    @TestHTTPResource("/")
    URI base;

    @Test
    void theProvidersSignInOpensTheAppAsTheMappedAccount() throws Exception {
        assertEquals(true, given().get("/auth/providers").then().statusCode(200).extract().path("oidc"));

        MockOidcProvider.user = new String[] {"sub-alice", "alice"};
        Browser first = new Browser();
        HttpResponse<String> landed = first.get("/auth/oidc");
        assertEquals(200, landed.statusCode(), "the redirect chain ends on the app: " + landed.uri());
        assertEquals("/", landed.uri().getPath());
        HttpResponse<String> me = first.get("/api/me");
        assertEquals(200, me.statusCode(), me.body());
        assertTrue(me.body().contains("\"username\":\"alice\""), me.body());
        assertTrue(me.body().contains("\"role\":\"user\""), me.body());
        String id = me.body().replaceAll(".*\"id\":\"([^\"]+)\".*", "$1");

        // the same subject signs in again from another browser: the same account, not a new one
        Browser second = new Browser();
        second.get("/auth/oidc");
        HttpResponse<String> again = second.get("/api/me");
        assertTrue(again.body().contains("\"id\":\"" + id + "\""), again.body());

        // an admin disables the account: the provider's sign-in no longer opens it
        given().contentType(ContentType.JSON).body("{\"disabled\":true}").patch("/api/admin/users/" + id)
                .then().statusCode(200);
        Browser third = new Browser();
        assertEquals(403, third.get("/auth/oidc").statusCode());
        assertEquals(401, third.get("/api/me").statusCode());
    }

    @Test
    void aLocalAccountsNameIsNotTakenOver() throws Exception {
        given().contentType(ContentType.JSON).body("{\"username\":\"bob\",\"password\":\"password-of-bob\"}")
                .post("/api/admin/users").then().statusCode(201);
        MockOidcProvider.user = new String[] {"sub-other-bob", "bob"};
        Browser b = new Browser();
        b.get("/auth/oidc");
        HttpResponse<String> me = b.get("/api/me");
        assertEquals(200, me.statusCode(), me.body());
        assertTrue(me.body().contains("\"username\":\"bob-2\""), "a provider's 'bob' is not the local bob: " + me.body());
    }

    /** A browser: follows redirects and keeps cookies, like the real one on the provider's round trip. */
    private final class Browser {
        private final HttpClient client = HttpClient.newBuilder().cookieHandler(new CookieManager())
                .followRedirects(HttpClient.Redirect.ALWAYS).build();

        HttpResponse<String> get(String path) throws Exception {
            return client.send(HttpRequest.newBuilder(base.resolve(path)).build(), HttpResponse.BodyHandlers.ofString());
        }
    }
}

package org.groundchat.security;

import io.quarkus.test.junit.callback.QuarkusTestBeforeClassCallback;
import io.restassured.RestAssured;
import io.restassured.filter.Filter;
import io.restassured.specification.RequestSpecification;

/**
 * Every test's REST calls are signed in as the first admin (the bootstrap token of the test configuration) unless a
 * request sets its own Authorization header ({@link #anonymous()}, {@link #as(String)}): tests of features need not
 * repeat the login. Registered in META-INF/services; runs in the test application's class loader, whose RestAssured
 * the tests use (a plain JUnit extension would configure another copy of it).
 */
public class SignedInByDefault implements QuarkusTestBeforeClassCallback {
    public static final String BOOTSTRAP_TOKEN = "test-bootstrap-token";
    public static final String ADMIN_PASSWORD = "test-admin-password";

    private static final Filter DEFAULT_TOKEN = (request, response, context) -> {
        if (!request.getHeaders().hasHeaderWithName("Authorization")) {
            request.header("Authorization", "Bearer " + BOOTSTRAP_TOKEN);
        }
        return context.next(request, response);
    };

    @Override
    public void beforeClass(Class<?> testClass) {
        RestAssured.replaceFiltersWith(DEFAULT_TOKEN);
    }

    /** A request with no credentials (an empty Authorization header keeps the default one off). */
    public static RequestSpecification anonymous() {
        return RestAssured.given().header("Authorization", "");
    }

    /** A request signed in with this bearer token instead of the default one. */
    public static RequestSpecification as(String token) {
        return RestAssured.given().header("Authorization", "Bearer " + token);
    }
}

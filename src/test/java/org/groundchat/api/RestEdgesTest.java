package org.groundchat.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.not;

import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import org.junit.jupiter.api.Test;

/** REST inputs at the edges get a 400 with {error, reason} that names what was wrong, never a 404, 500 or empty body. */
@QuarkusTest
class RestEdgesTest {

    @Test
    void anImageUnderTheDocumentedByteLimitIsAccepted() throws Exception {
        // random pixels do not compress: ~12 MB of PNG, above the transport's old 10 MiB cut, below the 20 MiB limit
        java.awt.image.BufferedImage noise = new java.awt.image.BufferedImage(1999, 1999,
                java.awt.image.BufferedImage.TYPE_INT_RGB);
        java.util.Random random = new java.util.Random(7);
        for (int y = 0; y < noise.getHeight(); y++) {
            for (int x = 0; x < noise.getWidth(); x++) noise.setRGB(x, y, random.nextInt(1 << 24));
        }
        java.io.ByteArrayOutputStream png = new java.io.ByteArrayOutputStream();
        javax.imageio.ImageIO.write(noise, "png", png);
        org.junit.jupiter.api.Assertions.assertTrue(png.size() > 11 * 1024 * 1024, "test image is " + png.size() + " bytes");
        given().multiPart("file", "noise.png", png.toByteArray(), "image/png").post("/api/images").then().statusCode(201);
    }

    @Test
    void concurrentUploadsOfLargeImagesAllSucceedThroughTheBoundedDecoder() throws Exception {
        // more uploads at once than decodes may run (groundchat.image.max-concurrent-decodes = 2): the rest wait
        var pool = java.util.concurrent.Executors.newFixedThreadPool(6);
        try {
            var statuses = new java.util.ArrayList<java.util.concurrent.Future<Integer>>();
            for (int k = 0; k < 6; k++) {
                byte[] png = noisePng(900, 900, 100 + k);
                statuses.add(pool.submit(() -> given().multiPart("file", "n.png", png, "image/png").post("/api/images")
                        .then().extract().statusCode()));
            }
            for (var s : statuses) org.junit.jupiter.api.Assertions.assertEquals(201, s.get());
        } finally {
            pool.shutdownNow();
        }
    }

    private static byte[] noisePng(int w, int h, long seed) throws java.io.IOException {
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(w, h, java.awt.image.BufferedImage.TYPE_INT_RGB);
        java.util.Random random = new java.util.Random(seed);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) img.setRGB(x, y, random.nextInt(1 << 24));
        }
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        javax.imageio.ImageIO.write(img, "png", out);
        return out.toByteArray();
    }

    @Test
    void aHugePageIsRefusedNotAServerError() {
        given().get("/api/conversations?page=2147483647").then().statusCode(400)
                .body("error", equalTo("invalid_page")).body("reason", containsString("between 0 and"));
        given().get("/api/conversations?page=2147483647&size=1").then().statusCode(200); // offset still fits an int
    }

    @Test
    void nonNumericQueryNumbersAreA400NamingTheParameter() {
        given().get("/api/conversations?size=abc").then().statusCode(400).body("error", equalTo("invalid_size"))
                .body("reason", containsString("size must be a whole number between 1 and 200"));
        given().get("/api/conversations?page=-1").then().statusCode(400).body("error", equalTo("invalid_page"));
        given().get("/api/conversations?page=1.5").then().statusCode(400).body("error", equalTo("invalid_page"));
        given().post("/api/images/00000000-0000-0000-0000-000000000000/dense-captions?max=abc").then().statusCode(400)
                .body("error", equalTo("invalid_max"));
    }

    @Test
    void malformedJsonIsInvalidJsonWithAReason() {
        given().contentType(ContentType.JSON).body("{\"title\": ").post("/api/conversations").then().statusCode(400)
                .body("error", equalTo("invalid_json")).body("reason", not(containsString("HTTP 400")));
        given().contentType(ContentType.JSON).body("{\"title\": {\"nested\": [1, 2]}}").post("/api/conversations")
                .then().statusCode(400).body("error", equalTo("invalid_json"))
                .body("reason", not(containsString("java."))).body("reason", not(containsString("org.")));
        given().contentType(ContentType.JSON).body("[1, 2, 3]").post("/api/conversations").then().statusCode(400)
                .body("error", equalTo("invalid_json"));
    }

    @Test
    void controlCharactersInNamesAreRefusedAndNothingIsStored() {
        long before = given().get("/api/conversations?size=1").then().statusCode(200).extract().jsonPath().getLong("total");
        given().contentType(ContentType.JSON).body("{\"title\": \"a\\u0000b\"}").post("/api/conversations").then()
                .statusCode(400).body("error", equalTo("invalid_title"));
        given().contentType(ContentType.JSON).body("{\"title\": \"ok\", \"owner\": \"x\\u0000\"}").post("/api/conversations")
                .then().statusCode(400).body("error", equalTo("invalid_owner"));
        String id = given().contentType(ContentType.JSON).body("{\"title\": \"kept\"}").post("/api/conversations")
                .then().statusCode(201).extract().path("id");
        given().contentType(ContentType.JSON).body("{\"title\": \"bad\\u0000\"}").patch("/api/conversations/" + id)
                .then().statusCode(400).body("error", equalTo("invalid_title"));
        given().get("/api/conversations/" + id).then().statusCode(200).body("title", equalTo("kept"));
        long after = given().get("/api/conversations?size=1").then().statusCode(200).extract().jsonPath().getLong("total");
        org.junit.jupiter.api.Assertions.assertEquals(before + 1, after, "only the valid conversation was stored");
    }
}

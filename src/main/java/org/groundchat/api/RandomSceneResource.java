package org.groundchat.api;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.Response;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Collectors;

/**
 * {@code GET /api/scenes/random?seed=S&objects=N}: a new scene of the loaded model's world as a PNG
 * ({@link RandomScene}), drawn with the shapes, colours and sizes its tokenizer knows. The same seed gives the same
 * scene; without one the server picks it. The seed and the objects drawn come back in the headers
 * {@code X-GroundChat-Seed} and {@code X-GroundChat-Objects} ("small red star, large blue circle").
 */
@Path("/api/scenes/random")
@ApplicationScoped
public class RandomSceneResource {
    @Inject
    ModelInfoResource model;

    private volatile RandomScene renderer;

    @GET
    @Produces("image/png")
    public Response random(@QueryParam("seed") String seedParam, @QueryParam("objects") String objectsParam) {
        int seed = QueryInts.parse(seedParam, ThreadLocalRandom.current().nextInt(Integer.MAX_VALUE), "seed", 0, Integer.MAX_VALUE);
        int objects = QueryInts.parse(objectsParam, 0, "objects", 0, RandomScene.MAX_OBJECTS);
        RandomScene.Scene scene = renderer().render(seed, objects);
        return Response.ok(scene.png(), "image/png")
                .header("X-GroundChat-Seed", seed)
                .header("X-GroundChat-Objects", scene.objects().stream().map(RandomScene.SceneObject::description)
                        .collect(Collectors.joining(", ")))
                // a given seed always draws the same scene; without one, each request is a new scene
                .header("Cache-Control", seedParam == null || seedParam.isBlank() ? "no-store" : "private, max-age=3600")
                .build();
    }

    @SuppressWarnings("unchecked")
    private RandomScene renderer() {
        RandomScene r = renderer;
        if (r == null) {
            r = new RandomScene((List<String>) model.describe().get("words"));
            renderer = r;
        }
        return r;
    }
}

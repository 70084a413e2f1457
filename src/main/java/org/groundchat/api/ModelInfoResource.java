package org.groundchat.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * What the loaded model knows, read from its bundle rather than written into the UI: its name and size, the words of
 * its tokenizer (any other word reaches the model as {@code <unk>}), example questions and sample scenes (the bundle's
 * golden cases). Another bundle ({@code groundchat.model.dir}) brings its own words and examples.
 */
@jakarta.ws.rs.Path("/api/model")
@ApplicationScoped
public class ModelInfoResource {
    private static final Pattern WORD = Pattern.compile("[a-z]+");
    private static final ObjectMapper JSON = new ObjectMapper();

    @ConfigProperty(name = "groundchat.model.dir")
    String modelDir;

    private volatile Info info;

    /** The bundle's facts, read once (the bundle does not change while the app runs). */
    record Info(Map<String, Object> body, List<Path> samples) {}

    @GET
    @Produces(MediaType.APPLICATION_JSON)
    public Map<String, Object> describe() {
        return info().body();
    }

    @GET
    @jakarta.ws.rs.Path("/samples/{n}")
    @Produces("image/png")
    public Response sample(@PathParam("n") int n) throws IOException {
        List<Path> samples = info().samples();
        if (n < 0 || n >= samples.size()) {
            return Response.status(404).type(MediaType.APPLICATION_JSON)
                    .entity(Map.of("error", "sample_not_found", "reason", "No sample scene " + n + ".")).build();
        }
        return Response.ok(Files.readAllBytes(samples.get(n)), "image/png").header("Cache-Control", "private, max-age=3600").build();
    }

    private Info info() {
        Info i = info;
        if (i == null) {
            synchronized (this) {
                if (info == null) info = read(Path.of(modelDir));
                i = info;
            }
        }
        return i;
    }

    static Info read(Path dir) {
        try {
            JsonNode bundle = JSON.readTree(dir.resolve("bundle.json").toFile());
            JsonNode files = bundle.path("files");
            JsonNode tokenizer = JSON.readTree(dir.resolve(files.path("tokenizer").asText("tokenizer.json")).toFile());
            // a word-level tokenizer's vocabulary: its plain words (special tokens, digits and punctuation are not words to
            // show); any other word becomes <unk>. A subword tokenizer (BPE) spells every word: no list, nothing unknown.
            Set<String> words = new LinkedHashSet<>();
            if ("WordLevel".equals(tokenizer.path("model").path("type").asText())) {
                tokenizer.path("model").path("vocab").fieldNames().forEachRemaining(w -> {
                    if (WORD.matcher(w).matches()) words.add(w);
                });
            }
            List<String> questions = new ArrayList<>();
            List<Path> samples = new ArrayList<>();
            if (files.has("golden")) {
                Path golden = dir.resolve(files.path("golden").asText());
                if (Files.isRegularFile(golden)) {
                    for (JsonNode c : JSON.readTree(golden.toFile()).path("cases")) {
                        Path image = golden.resolveSibling(c.path("image").asText());
                        if (c.path("image").asText().endsWith(".png") && Files.isRegularFile(image)) samples.add(image);
                        for (JsonNode t : c.path("turns")) {
                            // a question about a drawn box: "#1" is how the UI writes the box
                            String q = t.path("user").asText().replace("<boxes>", "#1");
                            if (!q.isBlank() && !questions.contains(q)) questions.add(q);
                        }
                    }
                }
            }
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("name", bundle.path("name").asText());
            body.put("version", bundle.path("version").asText());
            body.put("parameters", bundle.path("parameters").asLong());
            body.put("imageSize", bundle.path("image").path("size").asInt());
            body.put("lowercase", "Lowercase".equals(tokenizer.path("normalizer").path("type").asText()));
            body.put("words", List.copyOf(words));
            body.put("exampleQuestions", questions);
            body.put("samples", samples.size());
            return new Info(body, List.copyOf(samples));
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read the model bundle in " + dir, e);
        }
    }
}

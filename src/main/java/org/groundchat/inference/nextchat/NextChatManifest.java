package org.groundchat.inference.nextchat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Locale;
import java.util.Set;
import org.groundchat.inference.InferenceException;

/**
 * What the engine reads from a contract-3 bundle.json (models/README.md, "Bring your own model"). Only major
 * version 3 is accepted; contracts 1 and 2 are {@code BundleManifest}'s.
 */
record NextChatManifest(Path dir, String name, String family, JsonNode files, int hidden, int layers, int kvHeads,
                        int headDim, int vocab, int imageTokens, int maskChannels, int maskGrid, int maskSize,
                        int maxSeq, NextChatPixels.Recipe image, NextChatPixels.Recipe maskImage, boolean masks,
                        int bos, int eos, int imagePatch, int imageStart, int imageEnd, int at, int boxes,
                        int maxNewTokens, Set<Integer> stop, Set<Integer> banned, String system, JsonNode raw) {

    static NextChatManifest read(Path dir) {
        JsonNode b;
        try {
            b = new ObjectMapper().readTree(dir.resolve("bundle.json").toFile());
        } catch (IOException e) {
            throw new InferenceException("bundle.json cannot be read in " + dir + ": " + e.getMessage(), e);
        }
        String version = b.path("version").asText("");
        if (majorVersion(version) != 3) {
            throw new InferenceException("Not a contract-3 bundle (version \"" + version + "\"); NextChatEngine reads"
                    + " bundles made by models/import/import_nextchat.py");
        }
        JsonNode d = b.path("dims"), sp = b.path("special_tokens"), gen = b.path("generation");
        String prompt = b.path("prompt").path("format").asText();
        if (!prompt.equals("llava_v1")) throw new InferenceException("Unsupported prompt format: " + prompt);
        NextChatPixels.Recipe image = recipe(b.path("image"), "pil_bicubic");
        NextChatPixels.Recipe mask = recipe(b.path("mask_image"), "pil_bilinear");
        return new NextChatManifest(dir, b.path("name").asText(dir.getFileName().toString()),
                b.path("family").asText(), b.path("files"), req(d, "hidden"), req(d, "layers"), req(d, "kv_heads"),
                req(d, "head_dim"), req(d, "vocab"), req(d, "image_tokens"), req(d, "mask_embed_channels"),
                req(d, "mask_embed_size"), req(d, "mask_size"), d.path("max_seq").asInt(Integer.MAX_VALUE), image,
                mask, b.path("capabilities").path("masks").asBoolean(false), req(sp, "bos"), req(sp, "eos"),
                req(sp, "image_patch"), req(sp, "image_start"), req(sp, "image_end"), req(sp, "at"),
                req(sp, "boxes"), gen.path("max_new_tokens").asInt(512), ints(gen.path("stop")),
                ints(gen.path("banned")), b.path("prompt").path("system").asText(), b);
    }

    /** The file of a role ("decoder", "mask_encoder", ...), or null when the bundle has none. */
    Path file(String role) {
        JsonNode f = files.path(role);
        if (f.isMissingNode() || f.isNull()) return null;
        Path p = dir.resolve(f.asText());
        if (!Files.isRegularFile(p)) {
            throw new InferenceException("Model bundle is incomplete: " + role + " file " + p.toAbsolutePath()
                    + " does not exist");
        }
        return p;
    }

    static int majorVersion(String version) {
        try {
            return Integer.parseInt(version.split("\\.")[0].trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static NextChatPixels.Recipe recipe(JsonNode n, String expectedResize) {
        String resize = n.path("resize").asText();
        if (!resize.equals(expectedResize)) {
            throw new InferenceException("Unsupported resize \"" + resize + "\" (expected " + expectedResize + ")");
        }
        PilResize.Filter filter = PilResize.Filter.valueOf(resize.substring(4).toUpperCase(Locale.ROOT));
        String scale = n.path("scale").asText("1");
        float s = scale.equals("1/255") ? 1f / 255f : Float.parseFloat(scale);
        return new NextChatPixels.Recipe(req(n, "size"), filter, s, floats(n.path("mean")), floats(n.path("std")));
    }

    private static int req(JsonNode n, String field) {
        if (!n.path(field).canConvertToInt()) throw new InferenceException("bundle.json lacks " + field);
        return n.path(field).asInt();
    }

    private static float[] floats(JsonNode a) {
        float[] out = new float[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = (float) a.get(i).asDouble();
        return out;
    }

    private static Set<Integer> ints(JsonNode a) {
        Set<Integer> out = new HashSet<>();
        a.forEach(n -> out.add(n.asInt()));
        return out;
    }
}

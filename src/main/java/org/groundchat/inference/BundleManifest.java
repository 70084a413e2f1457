package org.groundchat.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parsed {@code bundle.json}: the single contract between the exported model and this engine.
 * Parsing fails with an {@link InferenceException} naming the missing or malformed key.
 */
public record BundleManifest(Path dir, String version, Map<String, String> files, ImageSpec image, Dims dims,
                             SpecialTokens specialTokens, MaskSpec mask, ProposalSpec proposals,
                             GenerationSpec generation, JsonNode raw) {

    /** Contract 2: the vision encoder also outputs {@code box_keys} and {@code point_keys} (what the box decoder and the point head
     *  attend) and the box encoder pools the image's {@code feature_map} inside the box. Contract 1: both heads attend
     *  {@code image_embeds}, the box encoder reads the box alone. The engine reads both. */
    public static final int SUPPORTED_MAJOR_VERSION = 2;
    public static final int OLDEST_MAJOR_VERSION = 1;
    public static final List<String> REQUIRED_FILES = List.of("vision_encoder", "embed_tokens", "decoder",
            "box_encoder", "box_decoder", "mask_decoder", "point_head", "proposal_head", "tokenizer");

    /** Preprocessing contract; mean/std/padValue are per RGB channel, padValue in 0..1. */
    public record ImageSpec(int size, float[] mean, float[] std, float[] padValue, String resize, String pad) {}

    /**
     * @param imageTokens    rows of {@code image_embeds} spliced into the prompt at {@code <image>}
     * @param locationTokens rows of {@code box_keys} / {@code point_keys} the box decoder and the point head attend
     */
    public record Dims(int hidden, int layers, int heads, int headDim, int vocab, int imageTokens, int locationTokens,
                       int featureChannels, int featureSize, int maskSize, int maxSeq) {}

    public record SpecialTokens(int pad, int unk, int image, int at, int boxes, int user, int assistant, int end,
                                int pOpen, int pClose) {}

    /** cropExpand: fraction of box width/height added on each side of the mask crop frame. */
    public record MaskSpec(double cropExpand, double threshold) {}

    public record ProposalSpec(double scoreThreshold, double nmsIou) {}

    public record GenerationSpec(int maxNewTokens, int[] stop) {}

    public int versionMajor() {
        return versionMajor(version);
    }

    private static int versionMajor(String version) {
        String v = version.trim();
        int dot = v.indexOf('.');
        try {
            return Integer.parseInt(dot < 0 ? v : v.substring(0, dot));
        } catch (NumberFormatException e) {
            throw new InferenceException("bundle.json: version '" + version + "' is not a number like 1 or 1.2");
        }
    }

    public Path file(String role) {
        String name = files.get(role);
        if (name == null) throw new InferenceException("bundle.json: files." + role + " is missing");
        return dir.resolve(name);
    }

    public static BundleManifest load(Path dir) {
        Path json = dir.resolve("bundle.json");
        if (!Files.isRegularFile(json)) {
            throw new InferenceException("Model bundle not found: " + json.toAbsolutePath()
                    + " does not exist (set the bundle directory to a folder containing bundle.json)");
        }
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(json.toFile());
        } catch (IOException e) {
            throw new InferenceException("bundle.json is not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new InferenceException("bundle.json must be a JSON object");
        String version = req(root, "version").asText();
        // before the rest is parsed, so a bundle of another contract is named as such, not as a missing key
        requireSupportedVersion(version);
        if (!"buffer".equals(root.path("kv_cache").asText())) {
            // the decoder's KV layout changed in 2.1: the engine feeds a KV buffer and reads only the new positions
            throw new InferenceException("Model bundle version " + version + " has a decoder that concatenates its KV cache;"
                    + " this engine needs bundle 2.1 (\"kv_cache\": \"buffer\"): re-export it with models/training/export.py");
        }
        Map<String, String> files = new LinkedHashMap<>();
        JsonNode filesNode = req(root, "files");
        filesNode.fields().forEachRemaining(e -> files.put(e.getKey(), e.getValue().asText()));
        for (String role : REQUIRED_FILES) {
            if (!files.containsKey(role)) throw new InferenceException("bundle.json: files." + role + " is missing");
        }
        JsonNode img = req(root, "image");
        ImageSpec image = new ImageSpec(reqInt(img, "image", "size"), floats(img, "image", "mean", 3),
                floats(img, "image", "std", 3), floats(img, "image", "pad_value", 3),
                img.path("resize").asText("bilinear_half_pixel_no_antialias"), img.path("pad").asText("right_bottom"));
        JsonNode d = req(root, "dims");
        Dims dims = new Dims(reqInt(d, "dims", "hidden"), reqInt(d, "dims", "layers"), reqInt(d, "dims", "heads"),
                reqInt(d, "dims", "head_dim"), reqInt(d, "dims", "vocab"), reqInt(d, "dims", "image_tokens"),
                versionMajor(version) >= 2 ? reqInt(d, "dims", "location_tokens") : 0,
                reqInt(d, "dims", "feature_channels"), reqInt(d, "dims", "feature_size"),
                reqInt(d, "dims", "mask_size"), reqInt(d, "dims", "max_seq"));
        JsonNode st = req(root, "special_tokens");
        SpecialTokens special = new SpecialTokens(reqInt(st, "special_tokens", "pad"),
                reqInt(st, "special_tokens", "unk"), reqInt(st, "special_tokens", "image"),
                reqInt(st, "special_tokens", "at"), reqInt(st, "special_tokens", "boxes"),
                reqInt(st, "special_tokens", "user"), reqInt(st, "special_tokens", "assistant"),
                reqInt(st, "special_tokens", "end"), reqInt(st, "special_tokens", "p_open"),
                reqInt(st, "special_tokens", "p_close"));
        JsonNode m = root.path("mask");
        MaskSpec mask = new MaskSpec(m.path("crop_expand").asDouble(0.0), m.path("threshold").asDouble(0.0));
        JsonNode p = root.path("proposals");
        ProposalSpec proposals = new ProposalSpec(p.path("score_threshold").asDouble(0.5),
                p.path("nms_iou").asDouble(0.5));
        JsonNode g = root.path("generation");
        List<Integer> stop = new ArrayList<>();
        if (g.path("stop").isArray()) g.path("stop").forEach(n -> stop.add(n.asInt()));
        if (stop.isEmpty()) stop.add(special.end());
        GenerationSpec generation = new GenerationSpec(g.path("max_new_tokens").asInt(128),
                stop.stream().mapToInt(Integer::intValue).toArray());
        return new BundleManifest(dir, version, Map.copyOf(files), image, dims, special, mask, proposals,
                generation, root);
    }

    /** Refuses a bundle whose major version is not between {@link #OLDEST_MAJOR_VERSION} and {@link #SUPPORTED_MAJOR_VERSION}. */
    static void requireSupportedVersion(String version) {
        int major = versionMajor(version);
        if (major < OLDEST_MAJOR_VERSION || major > SUPPORTED_MAJOR_VERSION) {
            throw new InferenceException("Model bundle version " + version + " is not supported (this engine reads "
                    + OLDEST_MAJOR_VERSION + ".x to " + SUPPORTED_MAJOR_VERSION + ".x)");
        }
    }

    /** Contract 2 bundles give the location heads their own keys and the box encoder the feature map. */
    public boolean hasLocationKeys() {
        return versionMajor() >= 2;
    }

    private static JsonNode req(JsonNode node, String key) {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) throw new InferenceException("bundle.json: '" + key + "' is missing");
        return v;
    }

    private static int reqInt(JsonNode node, String section, String key) {
        JsonNode v = node.get(key);
        if (v == null || !v.isNumber()) {
            throw new InferenceException("bundle.json: " + section + "." + key + " is missing or not a number");
        }
        return v.asInt();
    }

    private static float[] floats(JsonNode node, String section, String key, int n) {
        JsonNode v = node.get(key);
        if (v == null || !v.isArray() || v.size() != n) {
            throw new InferenceException("bundle.json: " + section + "." + key + " must be an array of " + n + " numbers");
        }
        float[] out = new float[n];
        for (int i = 0; i < n; i++) out[i] = (float) v.get(i).asDouble();
        return out;
    }
}

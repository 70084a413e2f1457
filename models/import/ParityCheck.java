// Runs an imported contract-3 bundle with ONNX Runtime (the engine's runtime) on the fixture's cases and compares
// tokens, boxes and masks with the PyTorch reference. A development check of the exported graphs until the Java
// engine reads contract 3; the inputs are the reference's own pixel tensors (make_fixture.py --dump DIR), so it
// tests the graphs and the generation loop, not image preprocessing.
//
//   java -cp onnxruntime-1.29.0.jar:jackson-databind.jar:jackson-core.jar:jackson-annotations.jar \
//       models/import/ParityCheck.java models/import/fixtures/nextchat-tiny DIR [BUNDLE [--measure]]
// BUNDLE: another import of the same checkpoint (streamed, quantized); --measure reports how many answer tokens
// agree with the reference instead of failing.
import ai.onnxruntime.*;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.*;

public class ParityCheck {
    static OrtEnvironment env = OrtEnvironment.getEnvironment();

    static OrtSession open(Path dir, String file) throws OrtException {
        return env.createSession(dir.resolve(file).toString(), new OrtSession.SessionOptions());
    }

    static OnnxTensor f32(float[] data, long... shape) throws OrtException {
        return OnnxTensor.createTensor(env, FloatBuffer.wrap(data), shape);
    }

    static OnnxTensor i64(long[] data, long... shape) throws OrtException {
        return OnnxTensor.createTensor(env, LongBuffer.wrap(data), shape);
    }

    static float[] flat(OnnxValue v) throws OrtException {
        FloatBuffer b = ((OnnxTensor) v).getFloatBuffer();
        float[] out = new float[b.remaining()];
        b.get(out);
        return out;
    }

    static float[] readF32(Path p) throws Exception {
        ByteBuffer bb = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[bb.remaining() / 4];
        bb.asFloatBuffer().get(out);
        return out;
    }

    public static void main(String[] args) throws Exception {
        Path fx = Path.of(args[0]);
        Path dump = Path.of(args[1]);
        ObjectMapper om = new ObjectMapper();
        JsonNode fixture = om.readTree(fx.resolve("fixture.json").toFile());
        Path bdir = args.length > 2 ? Path.of(args[2]) : fx.resolve(fixture.get("bundle").asText());
        boolean measure = args.length > 3 && args[3].equals("--measure");
        int agreeing = 0, total = 0;
        JsonNode b = om.readTree(bdir.resolve("bundle.json").toFile());
        JsonNode dims = b.get("dims"), sp = b.get("special_tokens");
        int d = dims.get("hidden").asInt(), layers = dims.get("layers").asInt(), kvh = dims.get("kv_heads").asInt();
        int hd = dims.get("head_dim").asInt(), vocab = dims.get("vocab").asInt();
        int s = b.get("image").get("size").asInt(), ms = b.get("mask_image").get("size").asInt();
        int mc = dims.get("mask_embed_channels").asInt(), mg = dims.get("mask_embed_size").asInt();
        int msz = dims.get("mask_size").asInt();
        int at = sp.get("at").asInt(), boxes = sp.get("boxes").asInt(), patch = sp.get("image_patch").asInt();
        Set<Integer> banned = new HashSet<>(), stop = new HashSet<>();
        b.get("generation").get("banned").forEach(n -> banned.add(n.asInt()));
        b.get("generation").get("stop").forEach(n -> stop.add(n.asInt()));
        int limit = b.get("generation").get("max_new_tokens").asInt();
        OrtSession vision = open(bdir, "vision_encoder.onnx"), embed = open(bdir, "embed_tokens.onnx"),
                dec = open(bdir, "decoder.onnx"), boxDec = open(bdir, "box_decoder.onnx"),
                boxEnc = open(bdir, "box_encoder.onnx"), maskEnc = open(bdir, "mask_encoder.onnx"),
                maskDec = open(bdir, "mask_decoder.onnx");
        double tolBox = fixture.get("tolerances").get("box").asDouble();
        double worstBox = 0, worstIou = 1;
        int failures = 0, k = 0, regionsSeen = 0;
        for (JsonNode c : fixture.get("cases")) {
            String tag = "case" + (k / 3) + "_" + (k % 3);
            k++;
            float[] pv = readF32(dump.resolve(tag + ".pixel_values.f32"));
            float[] mpv = readF32(dump.resolve(tag + ".mask_pixel_values.f32"));
            float[] img;
            try (var r = vision.run(Map.of("pixel_values", f32(pv, 1, 3, s, s)))) { img = flat(r.get(0)); }
            float[] memb;
            try (var r = maskEnc.run(Map.of("mask_pixel_values", f32(mpv, 1, 3, ms, ms)))) { memb = flat(r.get(0)); }
            long[] ids = new long[c.get("prompt_ids").size()];
            for (int i = 0; i < ids.length; i++) ids[i] = c.get("prompt_ids").get(i).asLong();
            int n = ids.length;
            float[] emb;
            try (var r = embed.run(Map.of("input_ids", i64(ids, 1, n)))) { emb = flat(r.get(0)); }
            int row = 0, ub = 0;
            for (int i = 0; i < n; i++) {
                if (ids[i] == patch) System.arraycopy(img, (row++) * d, emb, i * d, d);
                if (ids[i] == boxes) {
                    JsonNode bx = c.get("user_boxes").get(ub++);
                    float[] box = {(float) bx.get(0).asDouble(), (float) bx.get(1).asDouble(), (float) bx.get(2).asDouble(), (float) bx.get(3).asDouble()};
                    try (var r = boxEnc.run(Map.of("box", f32(box, 1, 4)))) { System.arraycopy(flat(r.get(0)), 0, emb, i * d, d); }
                }
            }
            // decoder state
            float[][] past = new float[2 * layers][0];
            int pos = 0;
            float[] logits = null, hidden = null;
            List<Integer> tokens = new ArrayList<>();
            List<float[]> boxesOut = new ArrayList<>();
            List<boolean[]> masks = new ArrayList<>();
            float[] input = emb;
            int len = n;
            while (true) {
                Map<String, OnnxTensor> in = new HashMap<>();
                in.put("inputs_embeds", f32(input, 1, len, d));
                long[] am = new long[pos + len];
                Arrays.fill(am, 1);
                in.put("attention_mask", i64(am, 1, pos + len));
                long[] pid = new long[len];
                for (int i = 0; i < len; i++) pid[i] = pos + i;
                in.put("position_ids", i64(pid, 1, len));
                for (int l = 0; l < layers; l++) {
                    in.put("past_key_values." + l + ".key", f32(past[2 * l], 1, kvh, pos, hd));
                    in.put("past_key_values." + l + ".value", f32(past[2 * l + 1], 1, kvh, pos, hd));
                }
                try (var r = dec.run(in)) {
                    float[] lg = flat(r.get("logits").get());
                    logits = Arrays.copyOfRange(lg, (len - 1) * vocab, len * vocab);
                    float[] hs = flat(r.get("hidden_states").get());
                    hidden = Arrays.copyOfRange(hs, (len - 1) * d, len * d);
                    for (int l = 0; l < layers; l++) {
                        past[2 * l] = flat(r.get("present." + l + ".key").get());
                        past[2 * l + 1] = flat(r.get("present." + l + ".value").get());
                    }
                }
                pos += len;
                boolean forced = !tokens.isEmpty() && tokens.get(tokens.size() - 1) == at;
                if (forced) {
                    float[] box;
                    try (var r = boxDec.run(Map.of("hidden_state", f32(hidden, 1, d)))) { box = flat(r.get(0)); }
                    boxesOut.add(box);
                    try (var r = maskDec.run(Map.of("image_embeddings", f32(memb, 1, mc, mg, mg), "box", f32(box, 1, 4),
                            "hidden_state", f32(hidden, 1, d)))) {
                        masks.add(maskImage(flat(r.get("mask_logits").get()), msz, c.get("width").asInt(), c.get("height").asInt()));
                    }
                    if (tokens.size() >= limit) break;
                    tokens.add(boxes);
                    try (var r = boxEnc.run(Map.of("box", f32(box, 1, 4)))) { input = flat(r.get(0)); }
                    len = 1;
                    continue;
                }
                if (tokens.size() >= limit) break;
                int best = -1;
                for (int v = 0; v < vocab; v++) if (!banned.contains(v) && (best < 0 || logits[v] > logits[best])) best = v;
                if (stop.contains(best)) break;
                tokens.add(best);
                try (var r = embed.run(Map.of("input_ids", i64(new long[]{best}, 1, 1)))) { input = flat(r.get(0)); }
                len = 1;
            }
            List<Integer> want = new ArrayList<>();
            c.get("answer_tokens").forEach(t -> want.add(t.asInt()));
            boolean ok = want.equals(tokens) && boxesOut.size() == c.get("regions").size();
            for (int i = 0; ok && i < boxesOut.size(); i++) {
                JsonNode reg = c.get("regions").get(i);
                for (int j = 0; j < 4; j++) worstBox = Math.max(worstBox, Math.abs(boxesOut.get(i)[j] - reg.get("box").get(j).asDouble()));
                boolean[] ref = decodeRle(reg.get("mask"));
                worstIou = Math.min(worstIou, iou(ref, masks.get(i)));
                regionsSeen++;
            }
            if (!ok) failures++;
            int same = 0;
            while (same < Math.min(want.size(), tokens.size()) && want.get(same).equals(tokens.get(same))) same++;
            agreeing += same;
            total += want.size();
            System.out.printf("%s %s: tokens %s, %d regions%n", c.get("image").asText(), c.get("user").asText(),
                    want.equals(tokens) ? "equal" : "DIFFER", boxesOut.size());
        }
        System.out.printf("cases %d, failures %d, regions %d, worst box diff %.2e, worst mask IoU %.4f%n",
                k, failures, regionsSeen, worstBox, worstIou);
        System.out.printf("answer tokens equal to the reference before the first difference: %d of %d%n", agreeing, total);
        if (measure) return;
        if (failures > 0 || worstBox > tolBox || worstIou < fixture.get("tolerances").get("mask_iou").asDouble()) System.exit(1);
    }

    // the padded square: side = max(w, h), the image at floor offsets; logits sampled at half-pixel centres
    static boolean[] maskImage(float[] lg, int m, int w, int h) {
        int side = Math.max(w, h), ox = (side - w) / 2, oy = (side - h) / 2;
        boolean[] out = new boolean[w * h];
        double scale = (double) m / side;
        for (int y = 0; y < h; y++) {
            double sy = Math.max((y + oy + 0.5) * scale - 0.5, 0);
            int y0 = (int) sy, y1 = Math.min(y0 + 1, m - 1);
            double fy = sy - y0;
            for (int x = 0; x < w; x++) {
                double sx = Math.max((x + ox + 0.5) * scale - 0.5, 0);
                int x0 = (int) sx, x1 = Math.min(x0 + 1, m - 1);
                double fx = sx - x0;
                double v = (1 - fy) * ((1 - fx) * lg[y0 * m + x0] + fx * lg[y0 * m + x1])
                        + fy * ((1 - fx) * lg[y1 * m + x0] + fx * lg[y1 * m + x1]);
                out[y * w + x] = v > 0;
            }
        }
        return out;
    }

    static boolean[] decodeRle(JsonNode mask) {
        int h = mask.get("size").get(0).asInt(), w = mask.get("size").get(1).asInt();
        boolean[] out = new boolean[w * h];
        int p = 0;
        boolean on = false;
        for (JsonNode r : mask.get("counts")) {
            for (int i = 0; i < r.asInt(); i++) out[p++] = on;
            on = !on;
        }
        return out;
    }

    static double iou(boolean[] a, boolean[] b) {
        int inter = 0, union = 0;
        for (int i = 0; i < a.length; i++) {
            if (a[i] && b[i]) inter++;
            if (a[i] || b[i]) union++;
        }
        return union == 0 ? 1 : (double) inter / union;
    }
}

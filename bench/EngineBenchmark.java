package org.groundchat.inference;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.groundchat.inference.GenerationEvents.GenerationResult;

/**
 * Latency of the engine on the bundled model (plain main; run it with bench/run.sh). Reports medians over
 * repeated runs after a warm-up: image encode, time to first token, decoder ms per token at positions 10/50/200,
 * box decode and mask decode, full grounded answer (cold image and cached image), and the process RSS.
 * Lives in the engine's package to time the KV-cache decoder directly.
 */
public final class EngineBenchmark {
    static final String QUESTION = "describe the image .";

    public static void main(String[] args) throws Exception {
        Path bundle = Path.of(args.length > 0 ? args[0] : "models/default");
        Path imagePath = Path.of(args.length > 1 ? args[1] : "models/default/golden/case1.png");
        int runs = args.length > 2 ? Integer.parseInt(args[2]) : 30;
        int threads = args.length > 3 ? Integer.parseInt(args[3]) : 2;
        byte[] image = Files.readAllBytes(imagePath);
        Map<String, Object> out = new LinkedHashMap<>();
        EngineOptions noCache = EngineOptions.defaults().withFeatureCacheSize(0);
        noCache = new EngineOptions(bundle, false, 0, noCache.maxImagePixels(), noCache.maxImageBytes(), threads);
        try (GroundingEngine cold = GroundingEngine.open(bundle, noCache);
             GroundingEngine warm = GroundingEngine.open(bundle, noCache.withFeatureCacheSize(8))) {
            GenerationRequest req = new GenerationRequest(image, List.of(PromptTurn.user(QUESTION, List.of())),
                    GenerationOptions.greedy(), null, null);
            List<Double> encode = new ArrayList<>(), ttft = new ArrayList<>(), fullCold = new ArrayList<>(),
                    fullWarm = new ArrayList<>(), boxMs = new ArrayList<>(), maskMs = new ArrayList<>(),
                    prefill = new ArrayList<>(), pointMs = new ArrayList<>(), decodeMs = new ArrayList<>();
            GenerationResult last = null;
            for (int i = 0; i < runs + 5; i++) {
                GenerationResult c = cold.generate(req, GenerationListener.NONE);
                GenerationResult w = warm.generate(req, GenerationListener.NONE);
                if (i < 5) continue;
                encode.add(c.timings().encodeMs());
                ttft.add(c.timings().firstTokenMs());
                fullCold.add(c.timings().totalMs());
                fullWarm.add(w.timings().totalMs());
                prefill.add(c.timings().prefillMs());
                decodeMs.add(c.timings().decodeMs());
                if (!c.points().isEmpty()) pointMs.add(c.timings().pointMs() / c.points().size());
                if (!c.regions().isEmpty()) {
                    boxMs.add(c.timings().boxMs() / c.regions().size());
                    maskMs.add(c.timings().maskMs() / c.regions().size());
                }
                last = c;
            }
            out.put("runtime", "onnxruntime-java CPU, per-token models on the calling thread, image models " + threads + " threads");
            out.put("question", QUESTION);
            out.put("answer", last.displayText());
            out.put("answer_tokens", last.completionTokens());
            out.put("regions", last.regions().size());
            out.put("encode_ms", median(encode));
            out.put("prefill_ms", median(prefill));
            out.put("first_token_ms", median(ttft));
            for (int pos : new int[] {10, 50, 200}) out.put("decode_ms_per_token_at_" + pos, stepMs(warm, pos, runs));
            out.put("box_decode_ms", median(boxMs));
            out.put("mask_decode_ms", median(maskMs));
            out.put("point_ms_per_word", median(pointMs));
            out.put("decode_loop_ms", median(decodeMs));
            out.put("full_answer_ms", median(fullCold));
            out.put("full_answer_cached_image_ms", median(fullWarm));
            out.put("rss_mb", rssMb());
        }
        StringBuilder json = new StringBuilder("{\n");
        int k = 0;
        for (var e : out.entrySet()) {
            Object v = e.getValue();
            String s = v instanceof Double d ? String.format(Locale.ROOT, "%.3f", d)
                    : v instanceof Number ? v.toString() : "\"" + v.toString().replace("\"", "'") + "\"";
            json.append("  \"").append(e.getKey()).append("\": ").append(s).append(++k < out.size() ? ",\n" : "\n");
        }
        System.out.println(json.append("}"));
    }

    /** Median ms of one decoder step when `position` tokens are already in the KV cache. */
    static double stepMs(GroundingEngine engine, int position, int runs) {
        int d = engine.manifest().dims().hidden();
        float[] prefix = new float[position * d];
        for (int i = 0; i < position; i++) System.arraycopy(engine.tokenEmbedding(20 + i % 40), 0, prefix, i * d, d);
        List<Double> times = new ArrayList<>();
        for (int r = 0; r < runs + 5; r++) {
            try (KvCacheDecoder dec = engine.newDecoder()) {
                dec.feed(prefix, position);
                long t = System.nanoTime();
                dec.feed(engine.tokenEmbedding(25), 1);
                if (r >= 5) times.add(GroundingEngine.ms(t));
            }
        }
        return median(times);
    }

    static double median(List<Double> v) {
        if (v.isEmpty()) return Double.NaN;
        double[] a = v.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(a);
        return a.length % 2 == 1 ? a[a.length / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
    }

    static double rssMb() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("\\D", "")) / 1024.0;
        }
        return Double.NaN;
    }
}

package org.groundchat.inference;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.groundchat.inference.GenerationEvents.GenerationResult;

/**
 * Continuous batching on vs off (bench/batch.sh): rounds of N answers started at the same moment on N caller
 * threads, N = 1, 4, 8, 16, with EngineOptions.maxBatch 16 and 1 in alternating rounds (same sitting, same load).
 * The mix of the load test: 30 % "describe the image ." (several regions with masks and points), 70 % short
 * grounded questions, over four golden images whose features are cached (the service encodes at upload). Prints,
 * per N and mode, the median answer latency, the median of each round's slowest answer, answers/s (N over the
 * round's wall time, median over rounds), the process CPU time per answer (median over rounds: unlike wall time it
 * does not depend on how many runnable threads a busy shared machine gives this process a share for), and the
 * batch's mean rows per decoder call.
 */
public final class BatchBenchmark {
    private static final com.sun.management.OperatingSystemMXBean CPU =
            (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
    private static final String[] SHORT = {"where is the large purple triangle ?", "find all stars .",
            "is there a purple diamond ?", "where is the medium red triangle ?", "segment the large orange circle .",
            "where is the medium purple square ?", "find all circles ."};

    public static void main(String[] args) throws Exception {
        Path bundle = Path.of(args.length > 0 ? args[0] : "models/default");
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        int threads = args.length > 2 ? Integer.parseInt(args[2]) : 2;
        int[] sizes = {1, 4, 8, 16};
        List<byte[]> images = new ArrayList<>();
        for (String name : new String[] {"case1.png", "case0.png", "case3.png", "case7.png"}) {
            images.add(Files.readAllBytes(bundle.resolve("golden").resolve(name)));
        }
        EngineOptions base = EngineOptions.defaults().withBundleDir(bundle).withIntraOpThreads(threads);
        ExecutorService pool = Executors.newCachedThreadPool();
        StringBuilder json = new StringBuilder("{\n  \"bundle\": \"" + bundle + "\",\n  \"rounds\": " + rounds + ",\n");
        try (GroundingEngine on = GroundingEngine.open(bundle, base.withMaxBatch(16));
             GroundingEngine off = GroundingEngine.open(bundle, base.withMaxBatch(1))) {
            List<String> lines = new ArrayList<>();
            for (int n : sizes) {
                List<GenerationRequest> reqs = mix(images, n);
                Stats sOn = new Stats(), sOff = new Stats();
                long calls0 = on.batcher().decoderCalls(), rows0 = on.batcher().rowsDecoded();
                for (int r = 0; r < rounds + 2; r++) { // two warm-up rounds
                    round(off, reqs, pool, r >= 2 ? sOff : null);
                    round(on, reqs, pool, r >= 2 ? sOn : null);
                }
                double rowsPerCall = (on.batcher().rowsDecoded() - rows0) / (double) (on.batcher().decoderCalls() - calls0);
                lines.add(String.format(Locale.ROOT,
                        "    {\"concurrent\": %d, \"on\": %s, \"off\": %s, \"rows_per_decoder_call\": %.2f}",
                        n, sOn.json(), sOff.json(), rowsPerCall));
                System.err.println(lines.get(lines.size() - 1));
            }
            json.append("  \"results\": [\n").append(String.join(",\n", lines)).append("\n  ]\n}");
        } finally {
            pool.shutdownNow();
        }
        System.out.println(json);
    }

    /** n requests: every third a description, the rest short questions, images in turn. */
    static List<GenerationRequest> mix(List<byte[]> images, int n) {
        List<GenerationRequest> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String q = i % 3 == 0 ? "describe the image ." : SHORT[i % SHORT.length];
            out.add(new GenerationRequest(images.get(i % images.size()), List.of(PromptTurn.user(q, List.of())),
                    GenerationOptions.greedy(), null, null));
        }
        return out;
    }

    /** Starts all requests at once on their own threads; records each latency and the round's throughput. */
    static void round(GroundingEngine engine, List<GenerationRequest> reqs, ExecutorService pool, Stats stats)
            throws Exception {
        CyclicBarrier start = new CyclicBarrier(reqs.size());
        long cpu0 = CPU.getProcessCpuTime();
        List<Future<Double>> lat = new ArrayList<>();
        long t0 = System.nanoTime();
        for (GenerationRequest r : reqs) {
            lat.add(pool.submit(() -> {
                start.await();
                long t = System.nanoTime();
                GenerationResult res = engine.generate(r, GenerationListener.NONE);
                if (res.completionTokens() == 0) throw new IllegalStateException("empty answer");
                return GroundingEngine.ms(t);
            }));
        }
        double slowest = 0;
        List<Double> each = new ArrayList<>();
        for (Future<Double> f : lat) {
            double ms = f.get();
            each.add(ms);
            slowest = Math.max(slowest, ms);
        }
        double wall = GroundingEngine.ms(t0);
        double cpuMs = (CPU.getProcessCpuTime() - cpu0) / 1e6;
        if (stats == null) return;
        stats.cpuPerAnswer.add(cpuMs / reqs.size());
        stats.latency.addAll(each);
        stats.slowest.add(slowest);
        stats.throughput.add(reqs.size() / (wall / 1000));
    }

    static final class Stats {
        final List<Double> latency = new ArrayList<>(), slowest = new ArrayList<>(), throughput = new ArrayList<>(),
                cpuPerAnswer = new ArrayList<>();

        String json() {
            return String.format(Locale.ROOT, "{\"latency_ms_p50\": %.1f, \"round_slowest_ms_p50\": %.1f, \"answers_per_s\": %.1f,"
                    + " \"cpu_ms_per_answer\": %.1f}", EngineBenchmark.median(latency), EngineBenchmark.median(slowest),
                    EngineBenchmark.median(throughput), EngineBenchmark.median(cpuPerAnswer));
        }
    }
}

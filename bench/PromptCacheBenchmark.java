package org.groundchat.inference;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.groundchat.inference.GenerationEvents.GenerationResult;

/**
 * The prompt cache on vs off (bench/prompt-cache.sh): conversations of four turns about one golden image, each turn
 * asked with the whole conversation so far (as the service does), on one thread with batching off, in alternating
 * sittings of the two engines. Prints, per mode, the median prefill and the median whole answer (image features
 * cached, as after an upload) over the turns of the measured conversations, and the mean prompt length.
 */
public final class PromptCacheBenchmark {
    private static final List<String> TURNS = List.of("describe the image .", "where is the red circle ?",
            "find the blue square .", "where is the green triangle ?");

    public static void main(String[] args) throws Exception {
        Path bundle = Path.of(args.length > 0 ? args[0] : "models/default");
        int conversations = args.length > 1 ? Integer.parseInt(args[1]) : 40;
        int sittings = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        byte[] scene = Files.readAllBytes(bundle.resolve("golden/case1.png"));
        EngineOptions base = EngineOptions.defaults().withBundleDir(bundle).withMaxBatch(1).withIntraOpThreads(1);
        List<Double> prefill0 = new ArrayList<>(), total0 = new ArrayList<>(), prefill1 = new ArrayList<>(),
                total1 = new ArrayList<>();
        long positions = 0, answers = 0;
        for (int s = 0; s < 2 * sittings; s++) {
            boolean cached = s % 2 == 1;
            try (GroundingEngine e = GroundingEngine.open(bundle, base.withPromptCacheSize(cached ? 32 : 0))) {
                for (int c = 0; c < conversations; c++) {
                    List<PromptTurn> turns = new ArrayList<>();
                    for (String q : TURNS) {
                        turns.add(PromptTurn.user(q, List.of()));
                        GenerationResult r = e.generate(new GenerationRequest(scene, turns, GenerationOptions.greedy(),
                                null, null), GenerationListener.NONE);
                        turns.add(PromptTurn.assistant(r.modelText(), r.slotBoxes()));
                        if (c < conversations / 4) continue; // warm-up: JIT, arenas, the feature cache
                        (cached ? prefill1 : prefill0).add(r.timings().prefillMs());
                        (cached ? total1 : total0).add(r.timings().totalMs());
                        positions += r.promptTokens();
                        answers++;
                    }
                }
            }
        }
        System.out.printf(Locale.ROOT, "{%n  \"turnsPerConversation\" : %d,%n  \"meanPromptPositions\" : %.1f,%n"
                        + "  \"off\" : { \"prefillMsMedian\" : %.2f, \"answerMsMedian\" : %.2f },%n"
                        + "  \"on\" : { \"prefillMsMedian\" : %.2f, \"answerMsMedian\" : %.2f }%n}%n",
                TURNS.size(), positions / (double) answers, median(prefill0), median(total0), median(prefill1),
                median(total1));
    }

    private static double median(List<Double> xs) {
        double[] a = xs.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(a);
        return a.length == 0 ? Double.NaN : a[a.length / 2];
    }
}

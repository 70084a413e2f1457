package org.groundchat.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.groundchat.inference.EngineOptions;
import org.groundchat.inference.GenerationEvents.GenerationResult;
import org.groundchat.inference.GenerationEvents.RegionEvent;
import org.groundchat.inference.GenerationListener;
import org.groundchat.inference.GenerationOptions;
import org.groundchat.inference.GenerationRequest;
import org.groundchat.inference.ChatEngine;
import org.groundchat.inference.ImageDecoder;
import org.groundchat.inference.InferenceException;
import org.groundchat.inference.PixelBox;
import org.groundchat.inference.PromptTurn;

/**
 * Command line: ask the bundled model about an image, stream the answer, print the regions in pixels and write
 * an annotated PNG.
 *
 * <pre>
 * ask IMAGE "where is the red star?" [--out annotated.png] [--bundle models/default] [--box x1,y1,x2,y2]...
 * </pre>
 * A user box is written as {@code <boxes>} in the question ("what is this <boxes> ?") or appended when absent.
 */
public final class AskCommand {
    private AskCommand() {}

    public static void main(String[] args) throws IOException {
        System.exit(run(args));
    }

    static int run(String[] args) throws IOException {
        List<String> pos = new ArrayList<>();
        Path out = null;
        Path bundle = EngineOptions.DEFAULT_BUNDLE_DIR;
        List<PixelBox> boxes = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--out" -> out = Path.of(args[++i]);
                case "--bundle" -> bundle = Path.of(args[++i]);
                case "--box" -> boxes.add(parseBox(args[++i]));
                default -> pos.add(args[i]);
            }
        }
        if (!pos.isEmpty() && pos.get(0).equals("ask")) pos.remove(0);
        if (pos.size() != 2) {
            System.err.println("usage: ask IMAGE \"question\" [--out annotated.png] [--bundle DIR] [--box x1,y1,x2,y2]...");
            return 2;
        }
        byte[] image = Files.readAllBytes(Path.of(pos.get(0)));
        String question = pos.get(1);
        if (!boxes.isEmpty() && !question.contains("<boxes>")) question = question + " <boxes>".repeat(boxes.size());
        try (ChatEngine engine = ChatEngine.open(bundle, EngineOptions.defaults())) {
            GenerationRequest req = new GenerationRequest(image, List.of(PromptTurn.user(question, boxes)),
                    GenerationOptions.greedy(), null, null);
            GenerationResult r = engine.generate(req, new GenerationListener() {
                @Override
                public void onTextDelta(String delta) {
                    System.out.print(delta);
                    System.out.flush();
                }
            });
            System.out.println();
            for (RegionEvent reg : r.regions()) {
                PixelBox b = reg.box();
                System.out.printf(Locale.ROOT, "%s \"%s\" box [%.1f, %.1f, %.1f, %.1f] px, mask %d px%n", reg.label(),
                        reg.phrase(), b.x1(), b.y1(), b.x2(), b.y2(),
                        r.masks().stream().filter(m -> m.regionIndex() == reg.index()).mapToLong(m -> m.mask().area()).sum());
            }
            System.out.printf(Locale.ROOT, "%d prompt + %d generated tokens, %.1f ms (encode %.1f, prefill %.1f)%n",
                    r.promptTokens(), r.completionTokens(), r.timings().totalMs(), r.timings().encodeMs(),
                    r.timings().prefillMs());
            if (out != null) {
                AnnotatedImage.write(ImageDecoder.decode(image, Long.MAX_VALUE).image(), r, boxes, out);
                System.out.println("annotated image: " + out);
            }
            return 0;
        } catch (InferenceException e) {
            System.err.println("error: " + e.getMessage());
            return 1;
        }
    }

    private static PixelBox parseBox(String s) {
        String[] p = s.split(",");
        if (p.length != 4) throw new IllegalArgumentException("--box needs x1,y1,x2,y2");
        return new PixelBox(Double.parseDouble(p[0]), Double.parseDouble(p[1]), Double.parseDouble(p[2]),
                Double.parseDouble(p[3]));
    }
}

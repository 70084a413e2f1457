package org.groundchat.inference;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.groundchat.inference.AnswerSequence.HeadOutput;
import org.groundchat.inference.AnswerSequence.Need;

/**
 * Runs the location heads that one decoder step's rows need: one point-head call, and one box-decoder plus one
 * box-encoder call, per image. Their image inputs (location keys, feature map) have batch dimension 1, so only rows
 * of the same image share a call; rows are independent in these graphs, so a shared call gives each row exactly
 * what a call of its own would. A call's time is split evenly over its rows (each answer's boxMs / pointMs).
 */
final class HeadCalls {
    private HeadCalls() {}

    /** A failure of one image's call, naming the rows (indices into the step) it leaves without an output. */
    static final class GroupFailure extends RuntimeException {
        final List<Integer> rows;

        GroupFailure(List<Integer> rows, RuntimeException cause) {
            super(cause.getMessage(), cause);
            this.rows = rows;
        }
    }

    /**
     * Head outputs for every row ({@link HeadOutput#NONE} where none is needed). {@code hidden} holds the rows'
     * hidden states [rows, D]. A failing call fails only its image's rows: their outputs stay null and
     * {@code failures} gets one entry per failed call.
     */
    static HeadOutput[] run(GroundingEngine engine, List<AnswerSequence> rows, float[] hidden, int d,
                            List<GroupFailure> failures) {
        HeadOutput[] out = new HeadOutput[rows.size()];
        Map<String, List<Integer>> pointGroups = new LinkedHashMap<>(), boxGroups = new LinkedHashMap<>();
        for (int i = 0; i < rows.size(); i++) {
            Need need = rows.get(i).needs();
            if (need == Need.NONE) {
                out[i] = HeadOutput.NONE;
            } else {
                Map<String, List<Integer>> groups = need == Need.POINT ? pointGroups : boxGroups;
                groups.computeIfAbsent(rows.get(i).image().sha256(), k -> new ArrayList<>()).add(i);
            }
        }
        for (List<Integer> group : pointGroups.values()) {
            try {
                points(engine, rows, hidden, d, group, out);
            } catch (RuntimeException e) {
                failures.add(new GroupFailure(group, e));
            }
        }
        for (List<Integer> group : boxGroups.values()) {
            try {
                boxes(engine, rows, hidden, d, group, out);
            } catch (RuntimeException e) {
                failures.add(new GroupFailure(group, e));
            }
        }
        return out;
    }

    private static void points(GroundingEngine engine, List<AnswerSequence> rows, float[] hidden, int d,
                               List<Integer> group, HeadOutput[] out) {
        long t = System.nanoTime();
        int n = group.size();
        float[] p = engine.points(gather(hidden, d, group), n, rows.get(group.get(0)).image());
        double share = GroundingEngine.ms(t) / n;
        for (int k = 0; k < n; k++) {
            out[group.get(k)] = new HeadOutput(new float[] {p[2 * k], p[2 * k + 1]}, null, null, share);
        }
    }

    private static void boxes(GroundingEngine engine, List<AnswerSequence> rows, float[] hidden, int d,
                              List<Integer> group, HeadOutput[] out) {
        long t = System.nanoTime();
        int n = group.size();
        ImageFeatures f = rows.get(group.get(0)).image();
        float[] boxes = engine.boxDecode(gather(hidden, d, group), n, f);
        float[] slots = engine.boxEncode(boxes, n, f);
        double share = GroundingEngine.ms(t) / n;
        for (int k = 0; k < n; k++) {
            float[] box = new float[4], slot = new float[d];
            System.arraycopy(boxes, 4 * k, box, 0, 4);
            System.arraycopy(slots, d * k, slot, 0, d);
            out[group.get(k)] = new HeadOutput(null, box, slot, share);
        }
    }

    /** The hidden rows of a group, [n, D]. */
    private static float[] gather(float[] hidden, int d, List<Integer> group) {
        float[] g = new float[group.size() * d];
        for (int k = 0; k < group.size(); k++) System.arraycopy(hidden, group.get(k) * d, g, k * d, d);
        return g;
    }
}

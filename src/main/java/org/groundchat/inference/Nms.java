package org.groundchat.inference;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;

/** Greedy non-maximum suppression over normalized boxes [K*4] with scores [K]. */
final class Nms {
    private Nms() {}

    static List<Integer> select(float[] boxes, float[] scores, double threshold, double iouLimit, int max) {
        List<Integer> order = IntStream.range(0, scores.length).filter(i -> scores[i] >= threshold).boxed()
                .sorted(Comparator.comparingDouble((Integer i) -> -scores[i]).thenComparingInt(i -> i)).toList();
        List<Integer> keep = new ArrayList<>();
        for (int i : order) {
            if (keep.size() >= max) break;
            boolean ok = true;
            for (int j : keep) {
                if (iou(boxes, i, j) > iouLimit) {
                    ok = false;
                    break;
                }
            }
            if (ok) keep.add(i);
        }
        return keep;
    }

    static double iou(float[] b, int i, int j) {
        double iw = Math.max(0, Math.min(b[4 * i + 2], b[4 * j + 2]) - Math.max(b[4 * i], b[4 * j]));
        double ih = Math.max(0, Math.min(b[4 * i + 3], b[4 * j + 3]) - Math.max(b[4 * i + 1], b[4 * j + 1]));
        double inter = iw * ih;
        double union = (b[4 * i + 2] - b[4 * i]) * (b[4 * i + 3] - b[4 * i + 1])
                + (b[4 * j + 2] - b[4 * j]) * (b[4 * j + 3] - b[4 * j + 1]) - inter;
        return union > 0 ? inter / union : 0;
    }
}

package org.groundchat.inference;

import com.fasterxml.jackson.databind.JsonNode;

/** Decodes row-major RLE masks (as {@link MaskRle} or its JSON form {size:[h,w], counts:[...]}) and compares them. */
public final class MaskRleCodec {
    private MaskRleCodec() {}

    public static boolean[] decode(MaskRle rle) {
        return decode(rle.counts(), (long) rle.height() * rle.width());
    }

    public static boolean[] decode(JsonNode json) {
        JsonNode size = json.path("size");
        int[] counts = new int[json.path("counts").size()];
        for (int i = 0; i < counts.length; i++) counts[i] = json.path("counts").get(i).asInt();
        return decode(counts, size.get(0).asLong() * size.get(1).asLong());
    }

    static boolean[] decode(int[] counts, long total) {
        boolean[] out = new boolean[(int) total];
        int pos = 0;
        for (int i = 0; i < counts.length; i++) {
            if (i % 2 == 1) java.util.Arrays.fill(out, pos, Math.min(out.length, pos + counts[i]), true);
            pos += counts[i];
        }
        if (pos != total) throw new IllegalArgumentException("RLE covers " + pos + " pixels, the mask has " + total);
        return out;
    }

    public static double iou(boolean[] a, boolean[] b) {
        long inter = 0, union = 0;
        for (int i = 0; i < a.length; i++) {
            if (a[i] && b[i]) inter++;
            if (a[i] || b[i]) union++;
        }
        return union == 0 ? 1.0 : (double) inter / union;
    }
}

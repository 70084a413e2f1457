package org.groundchat.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class MaskRendererTest {
    @Test
    void allPositiveLogitsFillTheCropFrameClippedToTheImage() {
        int m = 8;
        float[] logits = new float[m * m];
        java.util.Arrays.fill(logits, 5f);
        // box covers x 0.25..0.5, y 0.25..0.5 of a 100x80 image (side 100); crop grows it by 0.25 each side
        MaskRle rle = MaskRenderer.render(logits, m, new float[] {0.25f, 0.25f, 0.5f, 0.5f}, 100, 80, 0.25, 0);
        boolean[] bits = MaskRleCodec.decode(rle);
        assertEquals(100 * 80, bits.length);
        // crop frame 0.1875..0.5625 -> pixels whose centres fall inside: x 19..55, y 19..55
        assertTrue(bits[19 * 100 + 19] && bits[55 * 100 + 55]);
        assertTrue(!bits[18 * 100 + 30] && !bits[30 * 100 + 56]);
        assertEquals(37L * 37, rle.area());
    }

    @Test
    void negativeLogitsGiveAnEmptyMaskThatStillCoversTheImage() {
        MaskRle rle = MaskRenderer.render(new float[16], 4, new float[] {0.1f, 0.1f, 0.3f, 0.3f}, 50, 40, 0.25, 0);
        assertEquals(0, rle.area());
        assertEquals(50 * 40, MaskRleCodec.decode(rle).length);
    }
}

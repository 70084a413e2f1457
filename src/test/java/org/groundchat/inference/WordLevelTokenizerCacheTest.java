package org.groundchat.inference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The bundled tokenizer keeps the ids of recent texts: a kept answer must be the same as a fresh one, and private. */
class WordLevelTokenizerCacheTest {
    private static WordLevelTokenizer bundled() {
        return WordLevelTokenizer.load(BundleManifest.load(Path.of("models/default")).file("tokenizer"));
    }

    @Test
    void aRepeatedTextGetsTheIdsOfAFreshTokenizer() {
        WordLevelTokenizer warm = bundled();
        String text = "where is the red circle left of <boxes> ?";
        int[] first = warm.encode(text);
        int[] again = warm.encode(text);
        assertArrayEquals(bundled().encode(text), again);
        assertArrayEquals(first, again);
        assertNotSame(first, again);
    }

    @Test
    void changingReturnedIdsDoesNotChangeTheNextAnswer() {
        WordLevelTokenizer t = bundled();
        String text = "find the blue square .";
        int[] expected = t.encode(text);
        int[] returned = t.encode(text);
        java.util.Arrays.fill(returned, 0);
        assertArrayEquals(expected, t.encode(text));
    }

    @Test
    void longTextsAreEncodedLikeShortOnes() {
        WordLevelTokenizer t = bundled();
        String longText = "the red circle . ".repeat(200); // over the kept length
        assertArrayEquals(bundled().encode(longText), t.encode(longText));
        assertArrayEquals(bundled().encode(longText), t.encode(longText));
    }
}

package org.groundchat.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/** A random scene of the model's world: a PNG that decodes, with each object drawn in its colour inside its box. */
class RandomSceneTest {
    @SuppressWarnings("unchecked")
    private static final List<String> WORDS = (List<String>) ModelInfoResource.read(Path.of("models/default")).body().get("words");

    @Test
    void thePngDecodesAndHoldsEachObjectInItsColourInsideItsBox() throws Exception {
        for (int objects = 1; objects <= RandomScene.MAX_OBJECTS; objects++) {
            RandomScene.Scene scene = new RandomScene(WORDS).render(1000 + objects, objects);
            BufferedImage png = ImageIO.read(new ByteArrayInputStream(scene.png()));
            assertNotNull(png, "the PNG decodes");
            int w = png.getWidth(), h = png.getHeight();
            assertTrue(Math.max(w, h) >= 320 && Math.max(w, h) <= 640 && Math.min(w, h) >= 160, w + "x" + h);
            assertFalse(scene.objects().isEmpty());
            assertTrue(scene.objects().size() <= objects);
            if (objects <= 4) assertEquals(objects, scene.objects().size(), "up to 4 objects always find a place");
            Map<Integer, Integer> pixels = new HashMap<>();
            for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) pixels.merge(png.getRGB(x, y) & 0xffffff, 1, Integer::sum);
            Set<Integer> objectColours = new HashSet<>();
            for (RandomScene.SceneObject o : scene.objects()) {
                assertTrue(WORDS.containsAll(List.of(o.size(), o.color(), o.shape())), "words the model knows: " + o.description());
                int rgb = RandomScene.COLORS.get(o.color()).getRGB() & 0xffffff;
                objectColours.add(rgb);
                int[] b = o.box();
                assertTrue(b[0] >= 0 && b[1] >= 0 && b[2] <= w && b[3] <= h && b[2] > b[0] && b[3] > b[1], o + " inside the image");
                double extent = Math.max(b[2] - b[0], b[3] - b[1]) / (double) Math.max(w, h);
                double[] range = RandomScene.SIZES.get(o.size());
                assertTrue(extent <= range[1] + 0.01 && extent >= range[0] * 0.7, o.description() + " extent " + extent);
                int inside = 0;
                for (int y = b[1]; y < b[3]; y++) for (int x = b[0]; x < b[2]; x++) if ((png.getRGB(x, y) & 0xffffff) == rgb) inside++;
                double fill = inside / (double) ((b[2] - b[0]) * (b[3] - b[1]));
                assertTrue(fill > 0.25, o.description() + " fills " + fill + " of its box");
            }
            // the background and the objects' colours, nothing else (hard edges: no blended pixels)
            Set<Integer> colours = new HashSet<>(pixels.keySet());
            assertTrue(colours.containsAll(objectColours));
            colours.removeAll(objectColours);
            assertEquals(1, colours.size(), "one background colour");
        }
    }

    @Test
    void theSameSeedDrawsTheSameSceneAndAnotherSeedAnother() {
        RandomScene r = new RandomScene(WORDS);
        RandomScene.Scene a = r.render(42, 0), b = r.render(42, 0), c = r.render(43, 0);
        assertArrayEquals(a.png(), b.png());
        assertEquals(a.objects().stream().map(RandomScene.SceneObject::description).toList(),
                b.objects().stream().map(RandomScene.SceneObject::description).toList());
        assertFalse(java.util.Arrays.equals(a.png(), c.png()));
    }

    @Test
    void onlyTheWordsTheTokenizerKnowsAreDrawn() {
        RandomScene r = new RandomScene(List.of("red", "blue", "star", "small", "where"));
        for (int seed = 0; seed < 20; seed++) {
            for (RandomScene.SceneObject o : r.render(seed, 3).objects()) {
                assertEquals("small", o.size());
                assertEquals("star", o.shape());
                assertTrue(Set.of("red", "blue").contains(o.color()), o.color());
            }
        }
    }
}

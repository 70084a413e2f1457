package org.groundchat.api;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import javax.imageio.ImageIO;

/**
 * A scene of the bundled model's world drawn in Java: the shapes, colours and sizes of models/training/world.py (its
 * {@code SHAPES}, {@code COLORS}, {@code SIZES}, image sides 320-640 px at an aspect of 1:2 to 2:1), flat shapes on a
 * flat low-saturation background, so that a person can try the model on scenes it was not shown as samples.
 * Simpler than world.py: objects never overlap (every object is whole, its colour exact, without world.py's
 * per-object jitter) and the background is one colour. The same seed always gives the same scene.
 */
public final class RandomScene {
    static final List<String> SHAPES = List.of("circle", "square", "triangle", "star", "hexagon", "diamond");
    static final Map<String, Color> COLORS = new LinkedHashMap<>();
    /** Object extent (side of its bounding square) as a fraction of the image's longer side, as in world.py. */
    static final Map<String, double[]> SIZES = new LinkedHashMap<>();
    static final int MIN_SIDE = 160;
    static final int MAX_SIDE = 640;
    static final int MAX_OBJECTS = 8;

    static {
        COLORS.put("red", new Color(215, 35, 35));
        COLORS.put("orange", new Color(245, 140, 25));
        COLORS.put("yellow", new Color(240, 220, 30));
        COLORS.put("green", new Color(35, 165, 55));
        COLORS.put("blue", new Color(35, 75, 225));
        COLORS.put("purple", new Color(140, 50, 190));
        COLORS.put("white", new Color(250, 250, 250));
        COLORS.put("black", new Color(15, 15, 15));
        SIZES.put("small", new double[] {0.07, 0.10});
        SIZES.put("medium", new double[] {0.13, 0.17});
        SIZES.put("large", new double[] {0.21, 0.26});
    }

    /** One drawn object: its words and its box in pixels (x2, y2 exclusive). */
    public record SceneObject(String size, String color, String shape, int[] box) {
        public String description() {
            return size + " " + color + " " + shape;
        }
    }

    public record Scene(BufferedImage image, List<SceneObject> objects) {
        public byte[] png() {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try {
                ImageIO.write(image, "png", out);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return out.toByteArray();
        }
    }

    private final List<String> shapes;
    private final List<String> colors;
    private final List<String> sizes;

    /**
     * @param words the words of the model's tokenizer: only shapes, colours and sizes it knows are drawn (an empty
     *              collection, as for a subword tokenizer that spells every word: all of them)
     */
    public RandomScene(Collection<String> words) {
        shapes = known(SHAPES, words);
        colors = known(List.copyOf(COLORS.keySet()), words);
        sizes = known(List.copyOf(SIZES.keySet()), words);
    }

    private static List<String> known(List<String> all, Collection<String> words) {
        List<String> kept = all.stream().filter(words::contains).toList();
        return words.isEmpty() || kept.isEmpty() ? all : kept;
    }

    /**
     * The scene of this seed with {@code count} objects (1-8), or a number of them the seed picks when
     * {@code count} is 0. An object that finds no free place after 30 tries is left out, as in world.py.
     */
    public Scene render(long seed, int count) {
        if (count < 0 || count > MAX_OBJECTS) throw new IllegalArgumentException("objects: 0-" + MAX_OBJECTS);
        SplittableRandom rng = new SplittableRandom(seed);
        double aspect = Math.exp(uniform(rng, Math.log(0.5), Math.log(2.0)));
        int longer = MIN_SIDE * 2 + rng.nextInt(MAX_SIDE - MIN_SIDE * 2 + 1);
        int w = aspect >= 1 ? longer : Math.max(MIN_SIDE, (int) Math.round(longer * aspect));
        int h = aspect >= 1 ? Math.max(MIN_SIDE, (int) Math.round(longer / aspect)) : longer;
        int side = Math.max(w, h);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        // hard edges, as world.py's masks: every pixel of an object has its colour exactly
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_OFF);
        g.setColor(Color.getHSBColor((float) rng.nextDouble(), (float) uniform(rng, 0.05, 0.22), (float) uniform(rng, 0.45, 0.72)));
        g.fillRect(0, 0, w, h);
        int n = count > 0 ? count : 1 + rng.nextInt(MAX_OBJECTS);
        List<int[]> taken = new ArrayList<>();
        List<SceneObject> objects = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String shape = shapes.get(rng.nextInt(shapes.size()));
            String color = colors.get(rng.nextInt(colors.size()));
            String size = sizes.get(rng.nextInt(sizes.size()));
            double[] range = SIZES.get(size);
            for (int attempt = 0; attempt < 30; attempt++) {
                double r = uniform(rng, range[0], range[1]) * side / 2;
                if (r * 2 + 2 > Math.min(w, h)) continue;
                double cx = uniform(rng, r + 1, w - r - 1);
                double cy = uniform(rng, r + 1, h - r - 1);
                double rot = shape.equals("triangle") || shape.equals("star") || shape.equals("hexagon")
                        ? uniform(rng, 0, 2 * Math.PI) : 0;
                // the bounding square plus a 2 px gap must be free: objects stay whole and apart
                int[] square = {(int) Math.floor(cx - r) - 2, (int) Math.floor(cy - r) - 2,
                        (int) Math.ceil(cx + r) + 2, (int) Math.ceil(cy + r) + 2};
                if (taken.stream().anyMatch(t -> square[0] < t[2] && t[0] < square[2] && square[1] < t[3] && t[1] < square[3])) continue;
                taken.add(square);
                g.setColor(COLORS.get(color));
                g.fill(outline(shape, cx, cy, r, rot));
                objects.add(new SceneObject(size, color, shape, drawnBox(img, COLORS.get(color).getRGB(), square)));
                break;
            }
        }
        g.dispose();
        return new Scene(img, List.copyOf(objects));
    }

    private static double uniform(SplittableRandom rng, double lo, double hi) {
        return lo + rng.nextDouble() * (hi - lo);
    }

    /** The shape's outline as world.py's _polygon draws it. */
    static Shape outline(String shape, double cx, double cy, double r, double rot) {
        List<double[]> pts = new ArrayList<>();
        switch (shape) {
            case "circle" -> {
                return new Ellipse2D.Double(cx - r, cy - r, 2 * r, 2 * r);
            }
            case "square" -> {
                pts.add(new double[] {cx - r, cy - r}); pts.add(new double[] {cx + r, cy - r});
                pts.add(new double[] {cx + r, cy + r}); pts.add(new double[] {cx - r, cy + r});
            }
            case "diamond" -> {
                pts.add(new double[] {cx, cy - r}); pts.add(new double[] {cx + r * 0.75, cy});
                pts.add(new double[] {cx, cy + r}); pts.add(new double[] {cx - r * 0.75, cy});
            }
            case "triangle" -> {
                for (int k = 0; k < 3; k++) {
                    double a = rot + k * 2 * Math.PI / 3 - Math.PI / 2;
                    pts.add(new double[] {cx + r * Math.cos(a), cy + r * Math.sin(a)});
                }
            }
            case "hexagon" -> {
                for (int k = 0; k < 6; k++) {
                    double a = rot + k * Math.PI / 3;
                    pts.add(new double[] {cx + r * Math.cos(a), cy + r * Math.sin(a)});
                }
            }
            case "star" -> {
                for (int k = 0; k < 10; k++) {
                    double rr = k % 2 == 0 ? r : r * 0.45;
                    double a = rot + k * Math.PI / 5 - Math.PI / 2;
                    pts.add(new double[] {cx + rr * Math.cos(a), cy + rr * Math.sin(a)});
                }
            }
            default -> throw new IllegalArgumentException(shape);
        }
        Path2D.Double path = new Path2D.Double();
        path.moveTo(pts.get(0)[0], pts.get(0)[1]);
        for (double[] p : pts.subList(1, pts.size())) path.lineTo(p[0], p[1]);
        path.closePath();
        return path;
    }

    /** The box of the pixels of this colour inside the object's free square (nothing else is drawn there). */
    private static int[] drawnBox(BufferedImage img, int rgb, int[] square) {
        int x1 = Integer.MAX_VALUE, y1 = Integer.MAX_VALUE, x2 = -1, y2 = -1;
        for (int y = Math.max(0, square[1]); y < Math.min(img.getHeight(), square[3]); y++) {
            for (int x = Math.max(0, square[0]); x < Math.min(img.getWidth(), square[2]); x++) {
                if (img.getRGB(x, y) == rgb) {
                    x1 = Math.min(x1, x); y1 = Math.min(y1, y);
                    x2 = Math.max(x2, x + 1); y2 = Math.max(y2, y + 1);
                }
            }
        }
        return new int[] {x1, y1, x2, y2};
    }
}

package org.groundchat.cli;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.groundchat.inference.GenerationEvents.GenerationResult;
import org.groundchat.inference.GenerationEvents.MaskEvent;
import org.groundchat.inference.GenerationEvents.RegionEvent;
import org.groundchat.inference.MaskRleCodec;
import org.groundchat.inference.PixelBox;

/** Draws an answer's masks (tinted), boxes and labels, and the user's boxes (dashed), onto a copy of the image. */
public final class AnnotatedImage {
    private static final Color[] PALETTE = {new Color(230, 25, 75), new Color(60, 180, 75), new Color(0, 130, 200),
            new Color(245, 130, 48), new Color(145, 30, 180), new Color(70, 240, 240), new Color(240, 50, 230)};

    private AnnotatedImage() {}

    public static BufferedImage draw(BufferedImage src, GenerationResult r, List<PixelBox> userBoxes) {
        int w = src.getWidth(), h = src.getHeight();
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.drawImage(src, 0, 0, null);
        for (MaskEvent m : r.masks()) {
            Color c = PALETTE[m.regionIndex() % PALETTE.length];
            boolean[] bits = MaskRleCodec.decode(m.mask());
            for (int i = 0; i < bits.length; i++) {
                if (!bits[i]) continue;
                int x = i % w, y = i / w;
                int p = img.getRGB(x, y);
                int rr = (((p >> 16) & 255) + c.getRed()) / 2, gg = (((p >> 8) & 255) + c.getGreen()) / 2,
                        bb = ((p & 255) + c.getBlue()) / 2;
                img.setRGB(x, y, (rr << 16) | (gg << 8) | bb);
            }
        }
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, Math.max(12, Math.max(w, h) / 40)));
        float stroke = Math.max(2f, Math.max(w, h) / 200f);
        for (RegionEvent reg : r.regions()) {
            Color c = PALETTE[reg.index() % PALETTE.length];
            g.setColor(c);
            g.setStroke(new BasicStroke(stroke));
            PixelBox b = reg.box();
            g.drawRect((int) b.x1(), (int) b.y1(), (int) Math.max(1, b.width()), (int) Math.max(1, b.height()));
            g.drawString(reg.label() + " " + reg.phrase(), (int) b.x1() + 2, (int) Math.max(12, b.y1() - 4));
        }
        g.setColor(Color.WHITE);
        g.setStroke(new BasicStroke(stroke, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10, new float[] {6, 4}, 0));
        for (PixelBox b : userBoxes) {
            g.drawRect((int) b.x1(), (int) b.y1(), (int) Math.max(1, b.width()), (int) Math.max(1, b.height()));
        }
        g.dispose();
        return img;
    }

    public static void write(BufferedImage src, GenerationResult r, List<PixelBox> userBoxes, Path out) throws IOException {
        ImageIO.write(draw(src, r, userBoxes), "png", out.toFile());
    }
}

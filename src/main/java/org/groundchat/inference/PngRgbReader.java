package org.groundchat.inference;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferInt;
import java.io.ByteArrayOutputStream;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Reads the PNGs most uploads are (8-bit RGB or RGBA, not interlaced) straight into a TYPE_INT_RGB image: one
 * inflate and the five row filters. ImageIO's reader gives the same pixels but took ~15 ms of a ~65 ms answer for a
 * 600x360 photo, three times this.
 *
 * <p>Anything else gives null and goes to ImageIO, which reads it or refuses it exactly as before: other colour
 * types and depths, interlacing, an ICC profile or transparency chunk, IDATs split by other chunks, a bad CRC,
 * truncated or surplus data, or more pixels than allowed (ImageIO's path words that refusal).
 */
final class PngRgbReader {
    private static final byte[] SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

    /** The largest array the JVM reliably allocates. */
    private static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    private PngRgbReader() {}

    static boolean isPng(byte[] bytes) {
        if (bytes.length < SIGNATURE.length) return false;
        for (int i = 0; i < SIGNATURE.length; i++) if (bytes[i] != SIGNATURE[i]) return false;
        return true;
    }

    /** The image, or null when ImageIO should read (or refuse) these bytes. */
    static BufferedImage read(byte[] png, long maxPixels) {
        if (!isPng(png)) return null;
        Chunks chunks = Chunks.parse(png);
        if (chunks == null) return null;
        int w = chunks.width, h = chunks.height;
        if (w <= 0 || h <= 0 || (long) w * h > maxPixels) return null;
        // past Java's array limits ImageIO's own refusal applies; and deflate packs at most ~1032 bytes into one, so
        // data too short for the rows is refused by ImageIO before anything the header claims is allocated
        int bpp = chunks.rgba ? 4 : 3;
        if ((long) w * h > MAX_ARRAY || (long) w * bpp + 1 > MAX_ARRAY) return null;
        byte[] idat = chunks.idat.toByteArray();
        if (idat.length * 1032L < (long) h * (w * bpp + 1)) return null;
        Inflater inflater = new Inflater();
        inflater.setInput(idat);
        try {
            return unfilter(inflater, w, h, bpp);
        } catch (DataFormatException e) {
            return null;
        } finally {
            inflater.end();
        }
    }

    private static BufferedImage unfilter(Inflater inflater, int w, int h, int bpp) throws DataFormatException {
        int stride = w * bpp;
        byte[] prev = new byte[stride], cur = new byte[stride], filter = new byte[1];
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        int[] px = ((DataBufferInt) out.getRaster().getDataBuffer()).getData();
        for (int y = 0; y < h; y++) {
            if (!inflateFully(inflater, filter, 1) || !inflateFully(inflater, cur, stride)) return null;
            if (!undo(filter[0], cur, prev, bpp)) return null;
            for (int x = 0, p = 0, row = y * w; x < w; x++, p += bpp) {
                px[row + x] = (cur[p] & 0xFF) << 16 | (cur[p + 1] & 0xFF) << 8 | (cur[p + 2] & 0xFF);
            }
            byte[] t = prev;
            prev = cur;
            cur = t;
        }
        // ImageIO ignores data past the last row, but a stream that does not end there is not a clean PNG
        byte[] extra = new byte[1];
        return inflateFully(inflater, extra, 1) || !inflater.finished() ? null : out;
    }

    /**
     * Fills dst[0, len) from the image data (all given to the inflater at once); false when it ends first, is cut
     * short, or needs a preset dictionary.
     */
    private static boolean inflateFully(Inflater inflater, byte[] dst, int len) throws DataFormatException {
        for (int off = 0; off < len; ) {
            int n = inflater.inflate(dst, off, len - off);
            if (n == 0) return false;
            off += n;
        }
        return true;
    }

    /** Undoes one row's filter in place (PNG spec, section 9); false for an unknown filter type. */
    private static boolean undo(byte type, byte[] cur, byte[] prev, int bpp) {
        int n = cur.length;
        switch (type) {
            case 0 -> { }
            case 1 -> { for (int i = bpp; i < n; i++) cur[i] += cur[i - bpp]; }
            case 2 -> { for (int i = 0; i < n; i++) cur[i] += prev[i]; }
            case 3 -> {
                for (int i = 0; i < n; i++) {
                    int left = i >= bpp ? cur[i - bpp] & 0xFF : 0;
                    cur[i] += (byte) ((left + (prev[i] & 0xFF)) >>> 1);
                }
            }
            case 4 -> {
                for (int i = 0; i < n; i++) {
                    int a = i >= bpp ? cur[i - bpp] & 0xFF : 0, b = prev[i] & 0xFF, c = i >= bpp ? prev[i - bpp] & 0xFF : 0;
                    int pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
                    cur[i] += (byte) (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
                }
            }
            default -> { return false; }
        }
        return true;
    }

    /** The header and the image data (the IDAT chunks' contents, joined), after checking every chunk's length and CRC. */
    private static final class Chunks {
        int width, height;
        boolean rgba;
        final ByteArrayOutputStream idat = new ByteArrayOutputStream();

        static Chunks parse(byte[] png) {
            Chunks c = new Chunks();
            CRC32 crc = new CRC32();
            int p = SIGNATURE.length;
            boolean header = false, idatSeen = false, idatEnded = false;
            while (true) {
                if (p + 12 > png.length) return null;
                long length = readInt(png, p) & 0xFFFFFFFFL;
                if (length > png.length - p - 12) return null;
                int len = (int) length, data = p + 8;
                crc.reset();
                crc.update(png, p + 4, 4 + len);
                if ((int) crc.getValue() != readInt(png, data + len)) return null;
                String type = new String(png, p + 4, 4, java.nio.charset.StandardCharsets.ISO_8859_1);
                if (!header) {
                    if (!type.equals("IHDR") || len != 13 || !c.header(png, data)) return null;
                    header = true;
                } else if (type.equals("IDAT")) {
                    // IDATs must follow one another: ImageIO reads only the first run and then finds the data cut
                    if (idatEnded) return null;
                    c.idat.write(png, data, len);
                    idatSeen = true;
                } else if (type.equals("IEND")) {
                    return idatSeen && data + len + 4 == png.length ? c : null;
                } else if (type.equals("iCCP") || type.equals("tRNS")
                        || (Character.isUpperCase(type.charAt(0)) && !type.equals("PLTE"))) {
                    // colours or transparency ImageIO may treat otherwise, or a critical chunk (a second IHDR too)
                    return null;
                }
                if (idatSeen && !type.equals("IDAT")) idatEnded = true;
                p = data + len + 4;
            }
        }

        private boolean header(byte[] png, int at) {
            width = readInt(png, at);
            height = readInt(png, at + 4);
            int depth = png[at + 8], colour = png[at + 9], compression = png[at + 10], filter = png[at + 11], interlace = png[at + 12];
            rgba = colour == 6;
            return depth == 8 && (colour == 2 || colour == 6) && compression == 0 && filter == 0 && interlace == 0;
        }

        private static int readInt(byte[] b, int at) {
            return (b[at] & 0xFF) << 24 | (b[at + 1] & 0xFF) << 16 | (b[at + 2] & 0xFF) << 8 | (b[at + 3] & 0xFF);
        }
    }
}

package org.groundchat.inference;

import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.DataBufferByte;
import java.awt.image.DataBufferInt;
import java.awt.image.PixelInterleavedSampleModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.Locale;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;

/**
 * Turns uploaded bytes into RGB pixels, or rejects them with a readable reason. The pixel count is checked from
 * the header before any pixels are decoded, so a small file that claims a huge size cannot exhaust memory.
 */
public final class ImageDecoder {
    private static final java.util.Set<String> SUPPORTED_FORMATS = java.util.Set.of("png", "jpeg", "webp", "gif", "bmp");
    private static final String UNSUPPORTED = "The file is not an image in a supported format (PNG, JPEG, WebP, GIF, BMP).";

    private ImageDecoder() {}

    public static DecodedImage decode(byte[] bytes, long maxPixels) {
        if (bytes == null || bytes.length == 0) throw new ImageRejectedException("The file is empty.");
        return decode(bytes, maxPixels, sha256Hex(bytes));
    }

    /** As {@link #decode(byte[], long)}, for a caller that has hashed the bytes already (the engine's cache key). */
    static DecodedImage decode(byte[] bytes, long maxPixels, String sha) {
        if (bytes == null || bytes.length == 0) throw new ImageRejectedException("The file is empty.");
        BufferedImage png = PngRgbReader.read(bytes, maxPixels);
        if (png != null) return new DecodedImage(png.getWidth(), png.getHeight(), "png", "image/png", sha, png);
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(bytes))) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                throw new ImageRejectedException(UNSUPPORTED);
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                // JPEG/GIF readers report a premature end of data only as a warning and return grey-filled pixels
                java.util.List<String> warnings = new java.util.ArrayList<>();
                reader.addIIOReadWarningListener((r, warning) -> {
                    // a CMYK JPEG without an ICC profile is converted with a generic profile: a note, not damage
                    if (!warning.contains("ICC")) warnings.add(warning);
                });
                String format = reader.getFormatName().toLowerCase(Locale.ROOT);
                if (format.equals("jpg")) format = "jpeg";
                // ImageIO reads more (TIFF, WBMP) than a browser shows: only what the docs and the UI promise
                if (!SUPPORTED_FORMATS.contains(format)) throw new ImageRejectedException(UNSUPPORTED);
                int w = reader.getWidth(0);
                int h = reader.getHeight(0);
                if (w <= 0 || h <= 0) throw new ImageRejectedException("The image has no pixels.");
                if ((long) w * h > maxPixels) {
                    throw new ImageRejectedException("The image is too large: " + w + "x" + h + " = " + ((long) w * h)
                            + " pixels, the limit is " + maxPixels + " pixels.");
                }
                BufferedImage raw = reader.read(0);
                if (raw == null) throw new ImageRejectedException("The image could not be decoded.");
                if (!warnings.isEmpty()) {
                    throw new ImageRejectedException("The image is corrupt or truncated: " + warnings.get(0));
                }
                BufferedImage rgb = toRgb(raw);
                return new DecodedImage(w, h, format, "image/" + format, sha, rgb);
            } finally {
                reader.dispose();
            }
        } catch (ImageRejectedException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            // ImageIO reports truncated/corrupt data as IIOException, EOFException or (for some codecs) runtime errors
            throw new ImageRejectedException("The image is corrupt or truncated and cannot be decoded"
                    + (e.getMessage() == null ? "." : ": " + e.getMessage()), e);
        }
    }

    /** Copies any decoded image into TYPE_INT_RGB, dropping alpha and keeping gray levels unchanged. */
    static BufferedImage toRgb(BufferedImage src) {
        int w = src.getWidth(), h = src.getHeight();
        if (src.getType() == BufferedImage.TYPE_INT_RGB) return src;
        BufferedImage copied = copyInterleavedBytes(src);
        if (copied != null) return copied;
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        int[] row = new int[w];
        ColorModel cm = src.getColorModel();
        Raster raster = src.getRaster();
        boolean gray = cm.getColorSpace().getType() == java.awt.color.ColorSpace.TYPE_GRAY
                && cm.getNumColorComponents() == 1 && !(cm instanceof java.awt.image.IndexColorModel);
        if (gray) {
            // getRGB would push linear-gray values through a gamma conversion; PIL keeps the stored level as is
            int bits = cm.getComponentSize(0);
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int v = raster.getSample(x, y, 0);
                    if (bits > 8) v >>= (bits - 8);
                    row[x] = (v << 16) | (v << 8) | v;
                }
                out.setRGB(0, y, w, 1, row, 0, w);
            }
            return out;
        }
        for (int y = 0; y < h; y++) {
            src.getRGB(0, y, w, 1, row, 0, w);
            for (int x = 0; x < w; x++) row[x] &= 0xFFFFFF;
            out.setRGB(0, y, w, 1, row, 0, w);
        }
        return out;
    }

    /**
     * The common case of toRgb (ImageIO gives 8-bit sRGB BGR or ABGR for truecolour PNG, JPEG and BMP) as a plain
     * byte copy, or null for any other layout. getRGB gives these very bytes (non-premultiplied, standard sRGB
     * scale), but through colour-model calls per pixel: ~5 ms for a 600x360 photo, a tenth of a whole answer.
     */
    private static BufferedImage copyInterleavedBytes(BufferedImage src) {
        int type = src.getType();
        int stride = type == BufferedImage.TYPE_3BYTE_BGR ? 3 : type == BufferedImage.TYPE_4BYTE_ABGR ? 4 : 0;
        if (stride == 0 || src.isAlphaPremultiplied() || !src.getColorModel().getColorSpace().isCS_sRGB()) return null;
        Raster raster = src.getRaster();
        int w = src.getWidth(), h = src.getHeight();
        if (!(raster.getSampleModel() instanceof PixelInterleavedSampleModel sm)
                || !(raster.getDataBuffer() instanceof DataBufferByte buffer) || buffer.getNumBanks() != 1
                || raster.getSampleModelTranslateX() != 0 || raster.getSampleModelTranslateY() != 0
                || sm.getPixelStride() != stride || sm.getScanlineStride() != stride * w) {
            return null;
        }
        int[] offsets = sm.getBandOffsets(); // bands in colour-model order: R, G, B (then alpha)
        int r = buffer.getOffset() + offsets[0], g = buffer.getOffset() + offsets[1], b = buffer.getOffset() + offsets[2];
        byte[] in = buffer.getData();
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        int[] px = ((DataBufferInt) out.getRaster().getDataBuffer()).getData();
        for (int i = 0, p = 0; i < px.length; i++, p += stride) {
            px[i] = (in[p + r] & 0xFF) << 16 | (in[p + g] & 0xFF) << 8 | (in[p + b] & 0xFF);
        }
        return out;
    }

    public static String sha256Hex(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is always available", e);
        }
    }
}

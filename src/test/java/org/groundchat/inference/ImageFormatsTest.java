package org.groundchat.inference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import javax.imageio.ImageIO;
import org.groundchat.inference.GenerationEvents.GenerationResult;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The same scene in every accepted format gives the answer the PNG gives: exactly for lossless formats (BMP,
 * lossless WebP, which the JDK cannot read without the kept TwelveMonkeys plugin), and a region on the right
 * object for lossy ones (JPEG, GIF's 256 colours). Truncated files of each format are refused with a reason.
 */
class ImageFormatsTest {
    static final int CASE = 6; // a sparse golden scene: one object the shipped model finds
    static GroundingEngine engine;
    static byte[] png;
    static String question;
    static PixelBox truth;
    static GenerationResult fromPng;

    @BeforeAll
    static void open() throws IOException {
        Path dir = TestBundle.dir();
        engine = GroundingEngine.open(dir, EngineOptions.defaults().withBundleDir(dir).withFeatureCacheSize(0));
        JsonNode c = new ObjectMapper().readTree(dir.resolve("golden/golden.json").toFile()).path("cases").get(CASE);
        png = Files.readAllBytes(dir.resolve("golden").resolve(c.path("image").asText()));
        question = c.path("turns").get(0).path("user").asText();
        JsonNode b = c.path("truth").get(0).path("box_px");
        truth = new PixelBox(b.get(0).asDouble(), b.get(1).asDouble(), b.get(2).asDouble(), b.get(3).asDouble());
        fromPng = ask(png);
        assertFalse(fromPng.regions().isEmpty(), "precondition: the PNG answer has a region");
    }

    @AfterAll
    static void close() {
        engine.close();
    }

    static GenerationResult ask(byte[] image) {
        return engine.generate(new GenerationRequest(image, List.of(PromptTurn.user(question, List.of())),
                GenerationOptions.greedy(), i -> "[" + (i + 1) + "]", null), GenerationListener.NONE);
    }

    static byte[] encode(String format) throws IOException {
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
        BufferedImage rgb = new BufferedImage(img.getWidth(), img.getHeight(), BufferedImage.TYPE_INT_RGB);
        rgb.createGraphics().drawImage(img, 0, 0, null);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertTrue(ImageIO.write(rgb, format, out), "no ImageIO writer for " + format);
        return out.toByteArray();
    }

    static byte[] resource(String name) throws IOException {
        try (InputStream in = ImageFormatsTest.class.getResourceAsStream("/images/" + name)) {
            return in.readAllBytes();
        }
    }

    static void assertSameAnswer(GenerationResult r) {
        assertEquals(fromPng.modelText(), r.modelText());
        assertArrayEquals(fromPng.regions().get(0).normalizedBox(), r.regions().get(0).normalizedBox(), 1e-5f);
    }

    @Test
    void losslessFormatsGiveThePngsAnswer() throws IOException {
        assertSameAnswer(ask(encode("bmp")));
        byte[] webp = resource("case6-lossless.webp"); // written by PIL from the same PNG (lossless)
        assertEquals("webp", ImageDecoder.decode(webp, Long.MAX_VALUE).format());
        assertSameAnswer(ask(webp));
    }

    @Test
    void lossyFormatsStillFindTheObject() throws IOException {
        for (String format : new String[] {"jpeg", "gif"}) {
            byte[] bytes = encode(format);
            DecodedImage d = ImageDecoder.decode(bytes, Long.MAX_VALUE);
            assertEquals(format, d.format());
            GenerationResult r = ask(bytes);
            assertFalse(r.regions().isEmpty(), format + ": " + r.displayText());
            double iou = r.regions().get(0).box().iou(truth);
            assertTrue(iou >= 0.5, format + ": IoU " + iou + " with the truth");
        }
    }

    @Test
    void truncatedFilesAreRefusedWithAReason() throws IOException {
        for (String format : new String[] {"jpeg", "bmp", "gif"}) {
            byte[] bytes = encode(format);
            byte[] cut = Arrays.copyOf(bytes, bytes.length / 2);
            ImageRejectedException e = assertThrows(ImageRejectedException.class, () -> ask(cut), format);
            assertTrue(e.getMessage().contains("corrupt or truncated"), format + ": " + e.getMessage());
        }
        byte[] webp = resource("case6-lossless.webp");
        ImageRejectedException e = assertThrows(ImageRejectedException.class,
                () -> ask(Arrays.copyOf(webp, webp.length / 2)));
        assertTrue(e.getMessage().contains("corrupt or truncated"), "webp: " + e.getMessage());
    }

    /**
     * The decoder copies 8-bit BGR and ABGR images byte by byte instead of through getRGB, and the preprocessor reads
     * the result's array in place: both must give exactly the pixels getRGB gives, alpha dropped.
     */
    @Test
    void decodedPixelsAreThoseTheReaderGives() throws IOException {
        BufferedImage scene = ImageIO.read(new ByteArrayInputStream(png));
        BufferedImage withAlpha = new BufferedImage(scene.getWidth(), scene.getHeight(), BufferedImage.TYPE_INT_ARGB);
        for (int y = 0; y < scene.getHeight(); y++) {
            for (int x = 0; x < scene.getWidth(); x++) withAlpha.setRGB(x, y, scene.getRGB(x, y) & (x % 7 == 0 ? 0x80FFFFFF : -1));
        }
        // interlaced, so the direct PNG reader leaves it to ImageIO, which gives 4-byte ABGR
        ByteArrayOutputStream rgba = new ByteArrayOutputStream();
        javax.imageio.ImageWriter writer = ImageIO.getImageWritersByFormatName("png").next();
        javax.imageio.ImageWriteParam param = writer.getDefaultWriteParam();
        param.setProgressiveMode(javax.imageio.ImageWriteParam.MODE_DEFAULT);
        try (javax.imageio.stream.ImageOutputStream out = ImageIO.createImageOutputStream(rgba)) {
            writer.setOutput(out);
            writer.write(null, new javax.imageio.IIOImage(withAlpha, null, null), param);
        } finally {
            writer.dispose();
        }
        assertEquals(null, PngRgbReader.read(rgba.toByteArray(), Long.MAX_VALUE), "an interlaced PNG goes to ImageIO");
        int checked = 0;
        for (byte[] bytes : List.of(rgba.toByteArray(), encode("jpeg"), encode("bmp"))) {
            BufferedImage read = ImageIO.read(new ByteArrayInputStream(bytes));
            BufferedImage decoded = ImageDecoder.decode(bytes, Long.MAX_VALUE).image();
            assertEquals(BufferedImage.TYPE_INT_RGB, decoded.getType());
            for (int y = 0; y < read.getHeight(); y++) {
                for (int x = 0; x < read.getWidth(); x++) {
                    assertEquals(read.getRGB(x, y) & 0xFFFFFF, decoded.getRGB(x, y) & 0xFFFFFF, "type " + read.getType() + " at " + x + "," + y);
                }
            }
            checked |= 1 << read.getType();
        }
        assertEquals(1 << BufferedImage.TYPE_3BYTE_BGR | 1 << BufferedImage.TYPE_4BYTE_ABGR, checked,
                "the inputs cover both byte layouts the decoder copies directly");
        // a sub-image shares the array at an offset: the preprocessor must read it through getRGB, as before
        BufferedImage decoded = ImageDecoder.decode(png, Long.MAX_VALUE).image();
        BufferedImage inner = decoded.getSubimage(3, 2, decoded.getWidth() - 9, decoded.getHeight() - 5);
        BufferedImage copy = new BufferedImage(inner.getWidth(), inner.getHeight(), BufferedImage.TYPE_INT_RGB);
        copy.setRGB(0, 0, inner.getWidth(), inner.getHeight(), inner.getRGB(0, 0, inner.getWidth(), inner.getHeight(), null, 0, inner.getWidth()), 0, inner.getWidth());
        ImagePreprocessor pre = new ImagePreprocessor(engine.manifest().image());
        assertArrayEquals(pre.pixelValues(copy), pre.pixelValues(inner));
    }

    /**
     * PNGs in 8-bit RGB and RGBA are read without ImageIO: each of the five row filters, IDAT split over chunks, and
     * ancillary chunks ImageIO ignores must give exactly ImageIO's pixels. Other PNGs (palette, an ICC profile, a bad
     * CRC) go to ImageIO.
     */
    @Test
    void directlyReadPngsHaveImageIosPixels() throws IOException {
        java.util.Random random = new java.util.Random(7);
        for (int colour : new int[] {2, 6}) {
            int w = 37, h = 23, bpp = colour == 6 ? 4 : 3;
            byte[] raw = new byte[h * w * bpp];
            for (int i = 0; i < raw.length; i++) raw[i] = (byte) (i % 11 < 6 ? random.nextInt(256) : 40 + i % 7);
            byte[] png = TestPng.write(w, h, colour, raw, true);
            BufferedImage direct = PngRgbReader.read(png, Long.MAX_VALUE);
            assertTrue(direct != null, "colour type " + colour + " is read directly");
            BufferedImage read = ImageIO.read(new ByteArrayInputStream(png));
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    assertEquals(read.getRGB(x, y) & 0xFFFFFF, direct.getRGB(x, y) & 0xFFFFFF, "colour " + colour + " at " + x + "," + y);
                }
            }
            assertEquals(null, PngRgbReader.read(png, (long) w * h - 1), "too many pixels: ImageIO's path refuses it");
            byte[] badCrc = png.clone();
            badCrc[badCrc.length - 20] ^= 1; // inside the last IDAT
            assertEquals(null, PngRgbReader.read(badCrc, Long.MAX_VALUE));
            assertEquals(null, PngRgbReader.read(TestPng.write(w, h, colour, raw, false, "iCCP"), Long.MAX_VALUE));
            for (int cut : new int[] {png.length - 1, png.length - 13, png.length / 2, 40}) {
                assertEquals(null, PngRgbReader.read(Arrays.copyOf(png, cut), Long.MAX_VALUE), "cut at " + cut);
            }
        }
        // IDATs split by another chunk: ImageIO reads the first run only and refuses the file; so must the decoder
        byte[] split = TestPng.insertAfterFirstIdat(TestPng.write(9, 7, 2, new byte[9 * 7 * 3], true), "tEXt");
        assertEquals(null, PngRgbReader.read(split, Long.MAX_VALUE));
        assertThrows(ImageRejectedException.class, () -> ImageDecoder.decode(split, Long.MAX_VALUE));
        // a header claiming 50000 x 50000 pixels over a few bytes of data: nothing allocated, ImageIO's refusal
        byte[] huge = TestPng.withSize(TestPng.write(9, 7, 2, new byte[9 * 7 * 3], false), 50_000, 50_000);
        assertEquals(null, PngRgbReader.read(huge, Long.MAX_VALUE));
        assertThrows(ImageRejectedException.class, () -> ImageDecoder.decode(huge, Long.MAX_VALUE));
        BufferedImage indexed = new BufferedImage(8, 8, BufferedImage.TYPE_BYTE_INDEXED);
        ByteArrayOutputStream palette = new ByteArrayOutputStream();
        ImageIO.write(indexed, "png", palette);
        assertEquals(null, PngRgbReader.read(palette.toByteArray(), Long.MAX_VALUE));
        assertEquals(8, ImageDecoder.decode(palette.toByteArray(), Long.MAX_VALUE).width());
        byte[] cut = Arrays.copyOf(png, png.length / 2);
        ImageRejectedException e = assertThrows(ImageRejectedException.class, () -> ask(cut));
        assertTrue(e.getMessage().contains("corrupt or truncated"), "png: " + e.getMessage());
    }

    /** A CMYK JPEG with no ICC profile (Adobe marker, as Pillow and print workflows write it; red left, blue right). */
    @Test
    void cmykJpegWithoutAnIccProfileDecodesInItsColours() throws IOException {
        DecodedImage image = ImageDecoder.decode(resource("cmyk-no-icc.jpg"), 1_000_000);
        assertEquals(64, image.width());
        int left = image.image().getRGB(5, 24) & 0xFFFFFF, right = image.image().getRGB(58, 24) & 0xFFFFFF;
        assertTrue((left >> 16) > 200 && (left & 0xFF) < 60, "red: " + Integer.toHexString(left));
        assertTrue((right & 0xFF) > 200 && (right >> 16) < 60, "blue: " + Integer.toHexString(right));
    }
}

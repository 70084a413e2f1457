package org.groundchat.inference;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/** Writes 8-bit PNGs by hand, row y with filter y % 5, so a test can cover every filter a reader must undo. */
final class TestPng {
    private TestPng() {}

    /**
     * raw: h rows of w * (colour 6 ? 4 : 3) bytes. With extras, the IDAT is split in three and gAMA, sRGB, pHYs and
     * tEXt chunks come before it; named chunks (e.g. "iCCP") are added with dummy content.
     */
    static byte[] write(int w, int h, int colour, byte[] raw, boolean extras, String... more) {
        int bpp = colour == 6 ? 4 : 3, stride = w * bpp;
        ByteArrayOutputStream filtered = new ByteArrayOutputStream();
        for (int y = 0; y < h; y++) {
            int type = y % 5;
            filtered.write(type);
            for (int i = 0; i < stride; i++) {
                int x = raw[y * stride + i] & 0xFF;
                int a = i >= bpp ? raw[y * stride + i - bpp] & 0xFF : 0;
                int b = y > 0 ? raw[(y - 1) * stride + i] & 0xFF : 0;
                int c = i >= bpp && y > 0 ? raw[(y - 1) * stride + i - bpp] & 0xFF : 0;
                int predicted = switch (type) {
                    case 1 -> a;
                    case 2 -> b;
                    case 3 -> (a + b) / 2;
                    case 4 -> paeth(a, b, c);
                    default -> 0;
                };
                filtered.write((x - predicted) & 0xFF);
            }
        }
        Deflater deflater = new Deflater();
        deflater.setInput(filtered.toByteArray());
        deflater.finish();
        ByteArrayOutputStream z = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        while (!deflater.finished()) z.write(buf, 0, deflater.deflate(buf));
        deflater.end();
        byte[] idat = z.toByteArray();

        ByteArrayOutputStream png = new ByteArrayOutputStream();
        png.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
        byte[] ihdr = {0, 0, 0, 0, 0, 0, 0, 0, 8, (byte) colour, 0, 0, 0};
        putInt(ihdr, 0, w);
        putInt(ihdr, 4, h);
        chunk(png, "IHDR", ihdr);
        if (extras) {
            chunk(png, "gAMA", new byte[] {0, 0, (byte) 0xB1, (byte) 0x8F});
            chunk(png, "sRGB", new byte[] {0});
            chunk(png, "pHYs", new byte[] {0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1});
            chunk(png, "tEXt", "Comment\0test".getBytes(StandardCharsets.ISO_8859_1));
        }
        for (String name : more) chunk(png, name, new byte[] {'x', 0, 0, 1, 2, 3});
        int parts = extras ? 3 : 1, step = (idat.length + parts - 1) / parts;
        for (int from = 0; from < idat.length; from += step) {
            chunk(png, "IDAT", java.util.Arrays.copyOfRange(idat, from, Math.min(idat.length, from + step)));
        }
        chunk(png, "IEND", new byte[0]);
        return png.toByteArray();
    }

    /** The PNG with a chunk of the given type (dummy text) inserted right after its first IDAT. */
    static byte[] insertAfterFirstIdat(byte[] png, String type) {
        int p = 8;
        while (!new String(png, p + 4, 4, StandardCharsets.ISO_8859_1).equals("IDAT")) p += 12 + readInt(png, p);
        p += 12 + readInt(png, p);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(png, 0, p);
        chunk(out, type, "Comment\0between".getBytes(StandardCharsets.ISO_8859_1));
        out.write(png, p, png.length - p);
        return out.toByteArray();
    }

    /** The PNG with its header's width and height replaced (and the header's CRC made right again). */
    static byte[] withSize(byte[] png, int width, int height) {
        byte[] ihdr = java.util.Arrays.copyOfRange(png, 16, 29);
        putInt(ihdr, 0, width);
        putInt(ihdr, 4, height);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(png, 0, 8);
        chunk(out, "IHDR", ihdr);
        out.write(png, 33, png.length - 33);
        return out.toByteArray();
    }

    private static int readInt(byte[] b, int at) {
        return (b[at] & 0xFF) << 24 | (b[at + 1] & 0xFF) << 16 | (b[at + 2] & 0xFF) << 8 | (b[at + 3] & 0xFF);
    }

    private static int paeth(int a, int b, int c) {
        int pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) {
        byte[] head = new byte[8];
        putInt(head, 0, data.length);
        System.arraycopy(type.getBytes(StandardCharsets.ISO_8859_1), 0, head, 4, 4);
        CRC32 crc = new CRC32();
        crc.update(head, 4, 4);
        crc.update(data);
        byte[] tail = new byte[4];
        putInt(tail, 0, (int) crc.getValue());
        out.writeBytes(head);
        out.writeBytes(data);
        out.writeBytes(tail);
    }

    private static void putInt(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 24);
        b[at + 1] = (byte) (v >>> 16);
        b[at + 2] = (byte) (v >>> 8);
        b[at + 3] = (byte) v;
    }
}

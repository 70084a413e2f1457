package org.groundchat.inference;

import java.awt.image.BufferedImage;

/**
 * A decoded upload.
 *
 * @param format   ImageIO format name in lower case ("png", "jpeg", "gif", "bmp")
 * @param mimeType matching MIME type ("image/png", ...)
 * @param sha256   lower-case hex SHA-256 of the original bytes (the image's identity)
 * @param image    pixels, always TYPE_INT_RGB (alpha dropped, as PIL's convert("RGB") does)
 */
public record DecodedImage(int width, int height, String format, String mimeType, String sha256,
                           BufferedImage image) {}

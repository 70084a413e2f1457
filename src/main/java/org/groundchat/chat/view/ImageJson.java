package org.groundchat.chat.view;

import org.groundchat.persistence.ImageEntity;

import java.util.UUID;

/** Metadata of a stored image (never the bytes). */
public record ImageJson(UUID id, int width, int height, String mimeType, long sizeBytes, String sha256) {
    public static ImageJson of(ImageEntity i) {
        return new ImageJson(i.id, i.width, i.height, i.mimeType, i.sizeBytes, i.sha256);
    }
}

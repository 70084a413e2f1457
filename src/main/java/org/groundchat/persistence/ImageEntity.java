package org.groundchat.persistence;

import io.quarkus.hibernate.orm.panache.PanacheEntityBase;
import jakarta.persistence.*;

import java.time.Instant;
import java.util.Optional;
import java.util.UUID;

/** An uploaded image, stored once per distinct content (sha256). */
@Entity
@Table(name = "images")
public class ImageEntity extends PanacheEntityBase {
    @Id
    public UUID id;
    public String sha256;
    @Column(name = "mime_type")
    public String mimeType;
    @Column(name = "size_bytes")
    public long sizeBytes;
    public int width;
    public int height;
    @Basic(fetch = FetchType.LAZY)
    public byte[] content;
    @Column(name = "created_at")
    public Instant createdAt;

    public static Optional<ImageEntity> findBySha256(String sha256) {
        return find("sha256", sha256).firstResultOptional();
    }
}

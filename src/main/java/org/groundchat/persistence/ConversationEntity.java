package org.groundchat.persistence;

import io.quarkus.hibernate.orm.panache.PanacheEntityBase;
import jakarta.persistence.*;

import java.time.Instant;
import java.util.UUID;

/** A chat about one (current) image. */
@Entity
@Table(name = "conversations")
public class ConversationEntity extends PanacheEntityBase {
    @Id
    public UUID id;
    public String owner;
    @Column(name = "account_id")
    public UUID accountId;
    public String title;
    @Column(name = "image_id")
    public UUID imageId;
    @Column(name = "created_at")
    public Instant createdAt;
    @Column(name = "updated_at")
    public Instant updatedAt;
}

package org.groundchat.persistence;

import io.quarkus.hibernate.orm.panache.PanacheEntityBase;
import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.time.Instant;
import java.util.UUID;

/** An API token: only its SHA-256 is stored; the prefix is shown so a person can tell tokens apart. */
@Entity
@Table(name = "api_tokens")
public class ApiTokenEntity extends PanacheEntityBase {
    @Id
    public UUID id;
    @Column(name = "account_id")
    public UUID accountId;
    public String name;
    public String prefix;
    @Column(name = "token_hash")
    public String tokenHash;
    @Column(name = "created_at")
    public Instant createdAt;
    @Column(name = "last_used_at")
    public Instant lastUsedAt;
}

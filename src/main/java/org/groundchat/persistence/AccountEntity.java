package org.groundchat.persistence;

import io.quarkus.hibernate.orm.panache.PanacheEntityBase;
import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.time.Instant;
import java.util.Optional;
import java.util.UUID;

/** A person (or program) who signs in; owns conversations, images and API tokens. */
@Entity
@Table(name = "accounts")
public class AccountEntity extends PanacheEntityBase {
    public static final String USER = "user";
    public static final String ADMIN = "admin";

    @Id
    public UUID id;
    public String username;
    @Column(name = "password_hash")
    public String passwordHash;
    public String role;
    public boolean disabled;
    @Column(name = "created_at")
    public Instant createdAt;
    /** "issuer|subject" for an account made by an OpenID Connect sign-in; null for local accounts. */
    @Column(name = "oidc_subject")
    public String oidcSubject;

    public static Optional<AccountEntity> findByOidcSubject(String subject) {
        return find("oidcSubject", subject).firstResultOptional();
    }

    public static Optional<AccountEntity> findByUsername(String username) {
        return find("username", username).firstResultOptional();
    }
}

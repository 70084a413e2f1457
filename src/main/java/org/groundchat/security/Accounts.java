package org.groundchat.security;

import io.quarkus.panache.common.Sort;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.transaction.Transactional;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.regex.Pattern;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.groundchat.chat.ChatException;
import org.groundchat.persistence.AccountEntity;
import org.groundchat.persistence.ApiTokenEntity;

/** Accounts, passwords and API tokens: creation, checks, and the admin's changes. */
@ApplicationScoped
public class Accounts {
    private static final Pattern USERNAME = Pattern.compile("[A-Za-z0-9._@-]{1,64}");
    static final int MIN_PASSWORD = 8;
    static final int MAX_TOKEN_NAME = 100;
    static final String TOKEN_PREFIX = "gc_";

    public record AccountJson(String id, String username, String role, boolean disabled, Instant createdAt) {
        static AccountJson of(AccountEntity a) {
            return new AccountJson(a.id.toString(), a.username, a.role, a.disabled, a.createdAt);
        }
    }

    public record TokenJson(String id, String name, String prefix, Instant createdAt, Instant lastUsedAt) {
        static TokenJson of(ApiTokenEntity t) {
            return new TokenJson(t.id.toString(), t.name, t.prefix, t.createdAt, t.lastUsedAt);
        }
    }

    /** A new token: the only time its secret is shown. */
    public record CreatedToken(String id, String name, String prefix, String token, Instant createdAt) {}

    @ConfigProperty(name = "groundchat.auth.bootstrap-token")
    Optional<String> bootstrapToken;

    @Transactional
    public AccountJson create(String username, String password, String role) {
        if (username == null || !USERNAME.matcher(username).matches()) {
            throw ChatException.badRequest("invalid_username",
                    "A username has 1 to 64 letters, digits or the characters . _ @ -.");
        }
        checkPassword(password);
        String r = role == null || role.isBlank() ? AccountEntity.USER : role;
        checkRole(r);
        if (AccountEntity.findByUsername(username).isPresent()) {
            throw ChatException.conflict("username_taken", "An account named '" + username + "' exists already.");
        }
        AccountEntity a = new AccountEntity();
        a.id = UUID.randomUUID();
        a.username = username;
        a.passwordHash = PasswordHasher.hash(password);
        a.role = r;
        a.createdAt = Instant.now();
        a.persist();
        return AccountJson.of(a);
    }

    /** The caller for a correct password of an enabled account; empty otherwise (the same time either way). */
    @Transactional
    public Optional<Caller> signIn(String username, String password) {
        Optional<AccountEntity> a = username == null ? Optional.empty() : AccountEntity.findByUsername(username);
        boolean ok = PasswordHasher.matches(password == null ? "" : password,
                a.map(x -> x.passwordHash).orElse(PasswordHasher.DUMMY_HASH));
        return a.filter(x -> ok && !x.disabled).map(Caller::of);
    }

    /**
     * The account behind an OpenID Connect sign-in ({@code subject} is "issuer|sub"), made at its first sign-in as a
     * user named after the provider's preferred username or e-mail (with a number added if that name is taken).
     * Empty when the account is disabled. Such an account has no usable password: it signs in through its provider.
     */
    @Transactional
    public Optional<Caller> signInWithOidc(String subject, String preferredName) {
        Optional<AccountEntity> existing = AccountEntity.findByOidcSubject(subject);
        if (existing.isPresent()) return existing.filter(a -> !a.disabled).map(Caller::of);
        AccountEntity a = new AccountEntity();
        a.id = UUID.randomUUID();
        a.username = freeUsername(preferredName);
        a.passwordHash = PasswordHasher.hash(UUID.randomUUID() + "-" + UUID.randomUUID()); // known to nobody
        a.role = AccountEntity.USER;
        a.createdAt = Instant.now();
        a.oidcSubject = subject;
        a.persist();
        return Optional.of(Caller.of(a));
    }

    private static String freeUsername(String preferred) {
        String base = preferred == null ? "" : preferred.replaceAll("[^A-Za-z0-9._@-]", "");
        if (base.isEmpty()) base = "user";
        base = base.substring(0, Math.min(base.length(), 56));
        String name = base;
        for (int n = 2; AccountEntity.findByUsername(name).isPresent(); n++) name = base + "-" + n;
        return name;
    }

    /** The caller for a session of this username, if the account still exists and is enabled. */
    @Transactional
    public Optional<Caller> current(String username) {
        return AccountEntity.findByUsername(username).filter(a -> !a.disabled).map(Caller::of);
    }

    /** The caller for an API token (or the configured bootstrap token); empty when unknown, revoked or disabled. */
    @Transactional
    public Optional<Caller> signInWithToken(String token) {
        if (token == null || token.isEmpty()) return Optional.empty();
        if (bootstrapToken.filter(b -> !b.isBlank() && sameSecret(b, token)).isPresent()) {
            return firstAdmin().map(Caller::of);
        }
        ApiTokenEntity t = ApiTokenEntity.find("tokenHash", PasswordHasher.sha256(token)).firstResult();
        if (t == null) return Optional.empty();
        AccountEntity a = AccountEntity.findById(t.accountId);
        if (a == null || a.disabled) return Optional.empty();
        t.lastUsedAt = Instant.now();
        return Optional.of(Caller.of(a));
    }

    private static boolean sameSecret(String a, String b) {
        return MessageDigest.isEqual(a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8));
    }

    public static Optional<AccountEntity> firstAdmin() {
        return AccountEntity.find("role = ?1 and disabled = false", Sort.ascending("createdAt"), AccountEntity.ADMIN)
                .firstResultOptional();
    }

    @Transactional
    public AccountJson me(UUID id) {
        return AccountJson.of(require(id));
    }

    @Transactional
    public void changePassword(UUID id, String current, String next) {
        AccountEntity a = require(id);
        if (current == null || !PasswordHasher.matches(current, a.passwordHash)) {
            throw new ChatException(ChatException.Kind.FORBIDDEN, "wrong_password", "The current password is not correct.");
        }
        checkPassword(next);
        a.passwordHash = PasswordHasher.hash(next);
    }

    @Transactional
    public List<AccountJson> list() {
        return AccountEntity.<AccountEntity>listAll(Sort.ascending("createdAt")).stream().map(AccountJson::of).toList();
    }

    /** An admin's change: enable/disable, role, or a new password (each optional). */
    @Transactional
    public AccountJson update(UUID id, Boolean disabled, String role, String password) {
        AccountEntity a = require(id);
        if (role != null) checkRole(role);
        boolean losesAdmin = AccountEntity.ADMIN.equals(a.role) && !a.disabled
                && (Boolean.TRUE.equals(disabled) || (role != null && !AccountEntity.ADMIN.equals(role)));
        if (losesAdmin) requireAnotherAdmin(a);
        if (disabled != null) a.disabled = disabled;
        if (role != null) a.role = role;
        if (password != null) {
            checkPassword(password);
            a.passwordHash = PasswordHasher.hash(password);
        }
        return AccountJson.of(a);
    }

    /**
     * Deletes the account with everything it owns: conversations, tokens, its ownership of images (on delete cascade),
     * and the bytes of those images that no other account owns and no conversation shows.
     */
    @Transactional
    public void delete(UUID id) {
        AccountEntity a = require(id);
        if (AccountEntity.ADMIN.equals(a.role) && !a.disabled) requireAnotherAdmin(a);
        var em = AccountEntity.getEntityManager();
        @SuppressWarnings("unchecked")
        List<Object> images = em.createNativeQuery("select image_id from image_owners where account_id = ?1")
                .setParameter(1, id).getResultList();
        a.delete();
        em.flush();
        for (Object image : images) {
            em.createNativeQuery("delete from images i where i.id = ?1 "
                    + "and not exists (select 1 from image_owners o where o.image_id = i.id) "
                    + "and not exists (select 1 from conversations c where c.image_id = i.id) "
                    + "and not exists (select 1 from messages m where m.image_id = i.id)")
                    .setParameter(1, image).executeUpdate();
        }
    }

    @Transactional
    public CreatedToken createToken(UUID accountId, String name) {
        require(accountId);
        String n = name == null || name.isBlank() ? "token" : name.strip();
        if (n.length() > MAX_TOKEN_NAME) {
            throw ChatException.badRequest("invalid_name", "The token name is longer than " + MAX_TOKEN_NAME + " characters.");
        }
        String secret = TOKEN_PREFIX + PasswordHasher.randomSecret(32);
        ApiTokenEntity t = new ApiTokenEntity();
        t.id = UUID.randomUUID();
        t.accountId = accountId;
        t.name = n;
        t.prefix = secret.substring(0, 10);
        t.tokenHash = PasswordHasher.sha256(secret);
        t.createdAt = Instant.now();
        t.persist();
        return new CreatedToken(t.id.toString(), t.name, t.prefix, secret, t.createdAt);
    }

    @Transactional
    public List<TokenJson> tokens(UUID accountId) {
        return ApiTokenEntity.<ApiTokenEntity>list("accountId", Sort.ascending("createdAt"), accountId).stream()
                .map(TokenJson::of).toList();
    }

    @Transactional
    public void revokeToken(UUID accountId, UUID tokenId) {
        long n = ApiTokenEntity.delete("id = ?1 and accountId = ?2", tokenId, accountId);
        if (n == 0) throw ChatException.notFound("unknown_token", "No token with id '" + tokenId + "'.");
    }

    private static AccountEntity require(UUID id) {
        AccountEntity a = AccountEntity.findById(id);
        if (a == null) throw ChatException.notFound("unknown_account", "No account with id '" + id + "'.");
        return a;
    }

    private static void requireAnotherAdmin(AccountEntity a) {
        long others = AccountEntity.count("role = ?1 and disabled = false and id <> ?2", AccountEntity.ADMIN, a.id);
        if (others == 0) throw ChatException.conflict("last_admin", "This is the only enabled admin; make another admin first.");
    }

    private static void checkRole(String role) {
        if (!AccountEntity.USER.equals(role) && !AccountEntity.ADMIN.equals(role)) {
            throw ChatException.badRequest("invalid_role", "The role is 'user' or 'admin'.");
        }
    }

    private static void checkPassword(String password) {
        if (password == null || password.length() < MIN_PASSWORD) {
            throw ChatException.badRequest("invalid_password", "A password has at least " + MIN_PASSWORD + " characters.");
        }
        if (password.getBytes(StandardCharsets.UTF_8).length > PasswordHasher.MAX_PASSWORD_BYTES) {
            throw ChatException.badRequest("invalid_password", "A password has at most "
                    + PasswordHasher.MAX_PASSWORD_BYTES + " bytes.");
        }
    }
}

package org.groundchat.security;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Base64;
import org.bouncycastle.crypto.generators.OpenBSDBCrypt;
import org.groundchat.inference.ImageDecoder;

/** bcrypt for passwords (slow on purpose), SHA-256 for API tokens (long random secrets need no stretching). */
public final class PasswordHasher {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final int COST = 10;
    /** bcrypt reads at most 72 bytes; longer passwords are refused rather than silently cut. */
    public static final int MAX_PASSWORD_BYTES = 72;

    private PasswordHasher() {}

    public static String hash(String password) {
        byte[] salt = new byte[16];
        RANDOM.nextBytes(salt);
        return OpenBSDBCrypt.generate("2b", password.toCharArray(), salt, COST);
    }

    public static boolean matches(String password, String hash) {
        try {
            return OpenBSDBCrypt.checkPassword(hash, password.toCharArray());
        } catch (IllegalArgumentException e) {
            return false; // a malformed stored hash matches nothing
        }
    }

    /** A hash to compare against when the account does not exist, so timing does not tell which usernames exist. */
    static final String DUMMY_HASH = hash("no such account");

    public static String sha256(String token) {
        return ImageDecoder.sha256Hex(token.getBytes(StandardCharsets.UTF_8));
    }

    /** A random secret of {@code bytes} bytes, URL-safe Base64 without padding. */
    public static String randomSecret(int bytes) {
        byte[] b = new byte[bytes];
        RANDOM.nextBytes(b);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }
}

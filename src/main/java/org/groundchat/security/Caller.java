package org.groundchat.security;

import io.quarkus.security.identity.SecurityIdentity;
import io.quarkus.security.runtime.QuarkusPrincipal;
import io.quarkus.security.runtime.QuarkusSecurityIdentity;
import java.util.UUID;
import org.groundchat.chat.ChatException;
import org.groundchat.persistence.AccountEntity;

/** The signed-in account behind a request: what ownership checks compare against. */
public record Caller(UUID accountId, String username, String role) {
    static final String ACCOUNT_ID = "groundchat.account-id";

    public boolean admin() {
        return "admin".equals(role);
    }

    static Caller of(AccountEntity account) {
        return new Caller(account.id, account.username, account.role);
    }

    SecurityIdentity identity() {
        return QuarkusSecurityIdentity.builder().setPrincipal(new QuarkusPrincipal(username)).addRole(role)
                .addAttribute(ACCOUNT_ID, accountId).build();
    }

    /** The caller of a request; 401 when it is anonymous (the path permissions normally stop those earlier). */
    public static Caller of(SecurityIdentity identity) {
        Object id = identity == null || identity.isAnonymous() ? null : identity.getAttribute(ACCOUNT_ID);
        if (!(id instanceof UUID accountId)) throw new ChatException(ChatException.Kind.UNAUTHENTICATED, "unauthenticated", "Sign in first.");
        String role = identity.hasRole("admin") ? "admin" : "user";
        return new Caller(accountId, identity.getPrincipal().getName(), role);
    }
}

package org.groundchat.security;

import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import jakarta.persistence.EntityManager;
import jakarta.transaction.Transactional;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.groundchat.persistence.AccountEntity;
import org.jboss.logging.Logger;

/**
 * With no account yet, the first start creates the admin: its password comes from {@code groundchat.auth.admin-password}
 * or is generated and printed once in the log. Conversations and images from before accounts become the admin's.
 */
@ApplicationScoped
public class FirstStart {
    private static final Logger LOG = Logger.getLogger(FirstStart.class);

    @ConfigProperty(name = "groundchat.auth.admin-username", defaultValue = "admin")
    String adminUsername;
    @ConfigProperty(name = "groundchat.auth.admin-password")
    Optional<String> adminPassword;
    @Inject
    Accounts accounts;
    @Inject
    EntityManager em;

    @Transactional
    void onStart(@Observes StartupEvent event) {
        if (AccountEntity.count() == 0) {
            String password = adminPassword.filter(p -> !p.isBlank()).orElse(null);
            boolean generated = password == null;
            if (generated) password = PasswordHasher.randomSecret(15);
            accounts.create(adminUsername, password, AccountEntity.ADMIN);
            if (generated) {
                LOG.infof("Created the first account: user '%s', password '%s' (shown once; change it after signing in)",
                        adminUsername, password);
            } else {
                LOG.infof("Created the first account: user '%s' with the configured password", adminUsername);
            }
            adoptUnownedData();
        }
    }

    /** Data stored before accounts existed goes to the first admin, so nothing becomes unreachable. Only at the
     *  first start: later, an image without owners is one whose uploaders were all deleted, not the admin's. */
    private void adoptUnownedData() {
        AccountEntity admin = Accounts.firstAdmin().orElse(null);
        if (admin == null) return;
        int conversations = em.createNativeQuery("update conversations set account_id = ?1 where account_id is null")
                .setParameter(1, admin.id).executeUpdate();
        int images = em.createNativeQuery("insert into image_owners (image_id, account_id) select i.id, ?1 from images i "
                + "where not exists (select 1 from image_owners o where o.image_id = i.id)").setParameter(1, admin.id)
                .executeUpdate();
        if (conversations + images > 0) {
            LOG.infof("Gave %d conversations and %d images from before accounts to '%s'", conversations, images, admin.username);
        }
    }
}

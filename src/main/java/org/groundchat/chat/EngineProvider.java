package org.groundchat.chat;

import io.quarkus.runtime.Startup;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Disposes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.nio.file.Path;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.groundchat.inference.EngineOptions;
import org.groundchat.inference.ChatEngine;

/** Opens the model bundle (groundchat.model.dir; its contract picks the engine) once at startup (a broken bundle stops the boot with its reason) and closes it at shutdown. */
@ApplicationScoped
public class EngineProvider {
    @ConfigProperty(name = "groundchat.model.dir", defaultValue = "models/default")
    String dir;
    @ConfigProperty(name = "groundchat.model.cuda", defaultValue = "false")
    boolean cuda;
    @ConfigProperty(name = "groundchat.model.feature-cache-size", defaultValue = "32")
    int cacheSize;
    @ConfigProperty(name = "groundchat.model.threads", defaultValue = "0")
    int threads;
    /** Answers running at the same time that share one decoder call per step (1: each decodes alone). */
    @ConfigProperty(name = "groundchat.inference.max-batch", defaultValue = "6")
    int maxBatch;
    /**
     * Prefilled prompts kept (their KV caches, at most ~2 MB each): a conversation's next turn, or another question
     * about the same image, is prefilled only from where its prompt differs from a kept one. 0 turns it off.
     */
    @ConfigProperty(name = "groundchat.inference.prompt-cache", defaultValue = "32")
    int promptCache;
    @Inject
    ImageLimits limits;

    @Produces
    @Singleton
    @Startup
    ChatEngine engine() {
        Path bundle = Path.of(dir);
        return ChatEngine.open(bundle, new EngineOptions(bundle, cuda, cacheSize, limits.maxPixels(), limits.maxBytes(), threads,
                maxBatch, promptCache));
    }

    void close(@Disposes ChatEngine engine) {
        engine.close();
    }
}

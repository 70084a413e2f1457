package org.groundchat.inference;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.List;
import org.groundchat.inference.GenerationEvents.GenerationResult;
import org.groundchat.inference.nextchat.NextChatEngine;

/**
 * What the service needs of a model: answers with their grounding events, and what the model is. Two engines serve
 * it: {@link GroundingEngine} for this project's bundles (contracts 1 and 2) and {@link NextChatEngine} for imported
 * NExT-Chat checkpoints (contract 3). {@link #open} picks one from the bundle's {@code bundle.json}.
 */
public interface ChatEngine extends AutoCloseable {

    /** Generates one answer, reporting events to the listener as they happen; blocks until it ends. */
    GenerationResult generate(GenerationRequest req, GenerationListener listener);

    /** Whether a user message (model text) fits the context on its own, with the image and room for an answer. */
    boolean fitsAlone(String userModelText);

    /** Whether the model proposes regions on its own ({@link #denseCaptions}). */
    boolean hasDenseCaptions();

    /** A caption per proposed region; only when {@link #hasDenseCaptions()}. */
    List<DenseCaption> denseCaptions(byte[] image, int max, CancellationToken cancellation);

    /** The bundle's {@code bundle.json} as read (name, version, sizes). */
    JsonNode bundle();

    /** Images run through the vision encoder since the engine opened. */
    long imageEncodes();

    /** Answers whose image features came from the cache. */
    long featureCacheHits();

    boolean usesCuda();

    @Override
    void close();

    /** Opens the bundle in {@code dir} with the engine its contract needs (major version 3: an imported NExT-Chat). */
    static ChatEngine open(Path dir, EngineOptions options) {
        EngineOptions o = options.withBundleDir(dir);
        return NextChatEngine.accepts(dir) ? NextChatEngine.open(o) : GroundingEngine.open(dir, o);
    }
}

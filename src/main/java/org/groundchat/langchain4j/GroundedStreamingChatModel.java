package org.groundchat.langchain4j;

import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import java.util.concurrent.Executor;
import org.groundchat.inference.GenerationEvents.GenerationResult;
import org.groundchat.inference.GenerationListener;
import org.groundchat.inference.GenerationOptions;
import org.groundchat.inference.ChatEngine;

/**
 * LangChain4j {@link StreamingChatModel}: text deltas stream through {@code onPartialResponse} as the engine
 * produces them (region labels included); the complete response carries the regions in its metadata.
 *
 * <p>Each call waits for its answer on a thread of the given executor; without one, on a daemon thread of its own
 * that ends with the answer (no pool is left behind to close). The decoding itself is the engine's: answers that run
 * at the same time share its decoder steps.
 */
public class GroundedStreamingChatModel implements StreamingChatModel {
    private final ChatEngine engine;
    private final Executor executor;
    private final GenerationOptions defaults;

    public GroundedStreamingChatModel(ChatEngine engine) { this(builder().engine(engine)); }

    public GroundedStreamingChatModel(ChatEngine engine, Executor executor) { this(builder().engine(engine).executor(executor)); }

    private GroundedStreamingChatModel(Builder b) {
        if (b.engine == null) throw new IllegalArgumentException("engine is required");
        this.engine = b.engine;
        this.executor = b.executor != null ? b.executor : GroundedStreamingChatModel::ownThread;
        this.defaults = b.options.build();
    }

    public static Builder builder() { return new Builder(); }

    private static void ownThread(Runnable r) {
        Thread t = new Thread(r, "groundchat-langchain4j");
        t.setDaemon(true);
        t.start();
    }

    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        executor.execute(() -> {
            try {
                GenerationResult r = engine.generate(LangChainRequests.toEngine(request, defaults, null), new GenerationListener() {
                    @Override
                    public void onTextDelta(String delta) { handler.onPartialResponse(delta); }
                });
                handler.onCompleteResponse(LangChainRequests.toResponse(r));
            } catch (RuntimeException e) {
                handler.onError(e);
            }
        });
    }

    /** Options a request's own parameters override, and the executor calls wait on. */
    public static final class Builder extends ModelOptions<Builder> {
        private Executor executor;

        public Builder executor(Executor executor) { this.executor = executor; return this; }

        public GroundedStreamingChatModel build() { return new GroundedStreamingChatModel(this); }
    }
}

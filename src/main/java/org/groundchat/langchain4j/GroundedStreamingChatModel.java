package org.groundchat.langchain4j;

import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import org.groundchat.inference.GenerationEvents.GenerationResult;
import org.groundchat.inference.GenerationListener;
import org.groundchat.inference.GroundingEngine;

/**
 * LangChain4j {@link StreamingChatModel}: text deltas stream through {@code onPartialResponse} as the engine
 * produces them (region labels included); the complete response carries the regions in its metadata.
 */
public class GroundedStreamingChatModel implements StreamingChatModel {
    private final GroundingEngine engine;
    private final Executor executor;

    public GroundedStreamingChatModel(GroundingEngine engine) {
        this(engine, Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "groundchat-langchain4j");
            t.setDaemon(true);
            return t;
        }));
    }

    public GroundedStreamingChatModel(GroundingEngine engine, Executor executor) {
        this.engine = engine;
        this.executor = executor;
    }

    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        executor.execute(() -> {
            try {
                GenerationResult r = engine.generate(LangChainRequests.toEngine(request, null), new GenerationListener() {
                    @Override
                    public void onTextDelta(String delta) { handler.onPartialResponse(delta); }
                });
                handler.onCompleteResponse(LangChainRequests.toResponse(r));
            } catch (RuntimeException e) {
                handler.onError(e);
            }
        });
    }
}

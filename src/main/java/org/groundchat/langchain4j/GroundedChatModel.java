package org.groundchat.langchain4j;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import org.groundchat.inference.GenerationListener;
import org.groundchat.inference.GenerationOptions;
import org.groundchat.inference.ChatEngine;

/**
 * LangChain4j {@link ChatModel} backed by the grounding engine; see {@link LangChainRequests} for the mapping. Calls
 * that run at the same time are decoded together by the engine (its batching), so one engine serves every model,
 * chat or streaming, in the same process.
 */
public class GroundedChatModel implements ChatModel {
    private final ChatEngine engine;
    private final GenerationOptions defaults;

    public GroundedChatModel(ChatEngine engine) { this(builder().engine(engine)); }

    private GroundedChatModel(Builder b) {
        if (b.engine == null) throw new IllegalArgumentException("engine is required");
        this.engine = b.engine;
        this.defaults = b.options.build();
    }

    public static Builder builder() { return new Builder(); }

    @Override
    public ChatResponse doChat(ChatRequest request) {
        return LangChainRequests.toResponse(engine.generate(LangChainRequests.toEngine(request, defaults, null),
                GenerationListener.NONE));
    }

    /** Options a request's own parameters (temperature, topP, topK, maxOutputTokens) override. */
    public static final class Builder extends ModelOptions<Builder> {
        public GroundedChatModel build() { return new GroundedChatModel(this); }
    }
}

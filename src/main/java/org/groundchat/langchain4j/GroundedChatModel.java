package org.groundchat.langchain4j;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import org.groundchat.inference.GenerationListener;
import org.groundchat.inference.GroundingEngine;

/** LangChain4j {@link ChatModel} backed by the grounding engine; see {@link LangChainRequests} for the mapping. */
public class GroundedChatModel implements ChatModel {
    private final GroundingEngine engine;

    public GroundedChatModel(GroundingEngine engine) { this.engine = engine; }

    @Override
    public ChatResponse doChat(ChatRequest request) {
        return LangChainRequests.toResponse(engine.generate(LangChainRequests.toEngine(request, null), GenerationListener.NONE));
    }
}

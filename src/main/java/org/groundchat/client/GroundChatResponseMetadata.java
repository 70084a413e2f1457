package org.groundchat.client;

import dev.langchain4j.model.chat.response.ChatResponseMetadata;
import java.util.List;

/** Response metadata of the remote models: the answer's regions and the stored conversation it belongs to. */
public class GroundChatResponseMetadata extends ChatResponseMetadata {
    private final List<GroundChatRegion> regions;
    private final String conversationId;

    protected GroundChatResponseMetadata(Builder builder) {
        super(builder);
        this.regions = List.copyOf(builder.regions);
        this.conversationId = builder.conversationId;
    }

    /** The regions in the order their labels ([1], [2], ...) appear in the response text. */
    public List<GroundChatRegion> regions() { return regions; }

    /** The server's conversation (visible in its UI); later requests that extend this history continue it. */
    public String conversationId() { return conversationId; }

    public static Builder builder() { return new Builder(); }

    public static class Builder extends ChatResponseMetadata.Builder<Builder> {
        private List<GroundChatRegion> regions = List.of();
        private String conversationId;

        public Builder regions(List<GroundChatRegion> regions) {
            this.regions = regions;
            return this;
        }

        public Builder conversationId(String conversationId) {
            this.conversationId = conversationId;
            return this;
        }

        @Override
        public GroundChatResponseMetadata build() { return new GroundChatResponseMetadata(this); }
    }
}

package org.groundchat.langchain4j;

import dev.langchain4j.model.chat.response.ChatResponseMetadata;
import java.util.List;
import org.groundchat.inference.GenerationEvents.RegionEvent;

/** LangChain4j response metadata that also carries the answer's regions (boxes in image pixels, phrases, labels). */
public class GroundedResponseMetadata extends ChatResponseMetadata {
    private final List<RegionEvent> regions;

    protected GroundedResponseMetadata(Builder builder) {
        super(builder);
        this.regions = List.copyOf(builder.regions);
    }

    /** The regions in the order their labels ([1], [2], ...) appear in the response text. */
    public List<RegionEvent> regions() { return regions; }

    public static Builder builder() { return new Builder(); }

    public static class Builder extends ChatResponseMetadata.Builder<Builder> {
        private List<RegionEvent> regions = List.of();

        public Builder regions(List<RegionEvent> regions) {
            this.regions = regions;
            return this;
        }

        @Override
        public GroundedResponseMetadata build() { return new GroundedResponseMetadata(this); }
    }
}

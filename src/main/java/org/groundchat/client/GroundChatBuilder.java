package org.groundchat.client;

import java.time.Duration;

/** The options both remote models take. */
public abstract class GroundChatBuilder<B extends GroundChatBuilder<B, M>, M> {
    private String baseUrl;
    private String apiKey;
    private Duration timeout;
    private String modelName;
    private String conversationId;

    /** The server's root, e.g. {@code http://localhost:8080} (a trailing {@code /v1} is accepted). */
    public B baseUrl(String baseUrl) { this.baseUrl = baseUrl; return self(); }

    /** An API token of the server's account (account dialog or POST /api/me/tokens). */
    public B apiKey(String apiKey) { this.apiKey = apiKey; return self(); }

    /** Connect and whole-answer timeout (default 120 s). */
    public B timeout(Duration timeout) { this.timeout = timeout; return self(); }

    /** The served model's name (default: whatever the server serves). */
    public B modelName(String modelName) { this.modelName = modelName; return self(); }

    /** Continue this stored conversation with every request (only the last user message is sent). */
    public B conversationId(String conversationId) { this.conversationId = conversationId; return self(); }

    public abstract M build();

    GroundChatClient client() {
        return new GroundChatClient(baseUrl, apiKey, timeout, modelName, conversationId);
    }

    @SuppressWarnings("unchecked")
    private B self() { return (B) this; }
}

package org.groundchat.chat.view;

import com.fasterxml.jackson.annotation.JsonInclude;
import org.groundchat.persistence.ConversationEntity;

import java.time.Instant;
import java.util.List;
import java.util.UUID;

/** A conversation; messages are present in the single-conversation view and absent in lists. */
public record ConversationJson(UUID id, String title, String owner, Instant createdAt, Instant updatedAt,
                               UUID imageId, @JsonInclude(JsonInclude.Include.NON_NULL) List<MessageJson> messages) {

    public static ConversationJson summary(ConversationEntity c) {
        return new ConversationJson(c.id, c.title, c.owner, c.createdAt, c.updatedAt, c.imageId, null);
    }

    public static ConversationJson full(ConversationEntity c, List<MessageJson> messages) {
        return new ConversationJson(c.id, c.title, c.owner, c.createdAt, c.updatedAt, c.imageId, messages);
    }
}

package org.groundchat.chat;

import io.quarkus.panache.common.Page;
import io.quarkus.panache.common.Sort;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.transaction.Transactional;
import org.groundchat.api.ApiException;
import org.groundchat.api.json.ConversationJson;
import org.groundchat.api.json.MessageJson;
import org.groundchat.api.json.PageJson;
import org.groundchat.persistence.ConversationEntity;
import org.groundchat.persistence.ImageEntity;
import org.groundchat.persistence.MessageEntity;
import org.groundchat.persistence.RegionEntity;

import java.time.Instant;
import java.util.*;
import java.util.stream.Collectors;

/** Conversation CRUD and read views (messages with their regions). */
@ApplicationScoped
public class ConversationService {
    static final int MAX_TITLE = 500;
    static final int MAX_OWNER = 200;
    public static final int MAX_PAGE_SIZE = 200;

    @Transactional
    public ConversationJson create(String title, String owner, UUID imageId) {
        ConversationEntity c = new ConversationEntity();
        c.id = UUID.randomUUID();
        c.title = checkTitle(title == null || title.isBlank() ? "New conversation" : title);
        if (owner != null && owner.length() > MAX_OWNER) {
            throw ApiException.badRequest("invalid_owner", "The owner is longer than " + MAX_OWNER + " characters.");
        }
        if (owner != null && ControlCharacters.in(owner)) {
            throw ApiException.badRequest("invalid_owner", "The owner must not contain control characters.");
        }
        c.owner = owner;
        if (imageId != null) {
            if (ImageEntity.findById(imageId) == null) {
                throw ApiException.notFound("unknown_image", "No image with id '" + imageId + "'.");
            }
            c.imageId = imageId;
        }
        c.createdAt = Instant.now();
        c.updatedAt = c.createdAt;
        c.persist();
        return ConversationJson.summary(c);
    }

    @Transactional
    public PageJson<ConversationJson> list(int page, int size) {
        if (page < 0) throw ApiException.badRequest("invalid_page", "page must be >= 0.");
        if (size < 1 || size > MAX_PAGE_SIZE) {
            throw ApiException.badRequest("invalid_size", "size must be between 1 and " + MAX_PAGE_SIZE + ".");
        }
        var query = ConversationEntity.findAll(Sort.descending("updatedAt").and("id"));
        List<ConversationJson> items = query.page(Page.of(page, size)).<ConversationEntity>list().stream()
                .map(ConversationJson::summary).toList();
        return new PageJson<>(items, page, size, query.count());
    }

    /** The conversation entity or 404. Must be called inside a transaction. */
    public static ConversationEntity require(UUID id) {
        ConversationEntity c = ConversationEntity.findById(id);
        if (c == null) throw ApiException.notFound("unknown_conversation", "No conversation with id '" + id + "'.");
        return c;
    }

    @Transactional
    public ConversationJson view(UUID id) {
        ConversationEntity c = require(id);
        return ConversationJson.full(c, messages(id));
    }

    @Transactional
    public void requireExists(UUID id) {
        require(id);
    }

    /** All messages of a conversation in order, each with its regions. */
    @Transactional
    public List<MessageJson> messages(UUID conversationId) {
        Map<UUID, List<RegionEntity>> byMessage = RegionEntity.ofConversation(conversationId).stream()
                .collect(Collectors.groupingBy(r -> r.messageId, LinkedHashMap::new, Collectors.toList()));
        return MessageEntity.ofConversation(conversationId).stream()
                .map(m -> MessageJson.of(m, byMessage.getOrDefault(m.id, List.of()))).toList();
    }

    @Transactional
    public ConversationJson rename(UUID id, String title) {
        if (title == null || title.isBlank()) throw ApiException.badRequest("invalid_title", "The title must not be empty.");
        ConversationEntity c = require(id);
        c.title = checkTitle(title);
        c.updatedAt = Instant.now();
        return ConversationJson.summary(c);
    }

    @Transactional
    public void delete(UUID id) {
        require(id);
        // messages and regions go with it (on delete cascade); images stay, other conversations may share them
        ConversationEntity.delete("id", id);
    }

    private static String checkTitle(String title) {
        String t = title.strip();
        if (t.length() > MAX_TITLE) {
            throw ApiException.badRequest("invalid_title", "The title is longer than " + MAX_TITLE + " characters.");
        }
        if (ControlCharacters.in(t)) {
            throw ApiException.badRequest("invalid_title", "The title must not contain control characters.");
        }
        return t;
    }
}

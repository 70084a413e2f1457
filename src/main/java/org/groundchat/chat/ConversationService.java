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
    public ConversationJson create(UUID account, String title, String owner, UUID imageId) {
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
        c.accountId = account;
        if (imageId != null) {
            ImageService.requireOwned(imageId, account);
            c.imageId = imageId;
        }
        c.createdAt = Instant.now();
        c.updatedAt = c.createdAt;
        c.persist();
        return ConversationJson.summary(c);
    }

    @Transactional
    public PageJson<ConversationJson> list(UUID account, int page, int size) {
        if (page < 0) throw ApiException.badRequest("invalid_page", "page must be >= 0.");
        if (size < 1 || size > MAX_PAGE_SIZE) {
            throw ApiException.badRequest("invalid_size", "size must be between 1 and " + MAX_PAGE_SIZE + ".");
        }
        var query = ConversationEntity.find("accountId", Sort.descending("updatedAt").and("id"), account);
        List<ConversationJson> items = query.page(Page.of(page, size)).<ConversationEntity>list().stream()
                .map(ConversationJson::summary).toList();
        return new PageJson<>(items, page, size, query.count());
    }

    /** The conversation entity or 404. Must be called inside a transaction. */
    public static ConversationEntity require(UUID id) {
        ConversationEntity c = ConversationEntity.findById(id);
        if (c == null) throw unknown(id);
        return c;
    }

    /** The conversation if it belongs to the account; another account's answers 404 exactly like an unknown id. */
    public static ConversationEntity requireOwned(UUID id, UUID account) {
        ConversationEntity c = ConversationEntity.findById(id);
        if (c == null || account == null || !account.equals(c.accountId)) throw unknown(id);
        return c;
    }

    private static ApiException unknown(UUID id) {
        return ApiException.notFound("unknown_conversation", "No conversation with id '" + id + "'.");
    }

    @Transactional
    public ConversationJson view(UUID id, UUID account) {
        ConversationEntity c = requireOwned(id, account);
        return ConversationJson.full(c, messages(id));
    }

    @Transactional
    public void requireAccess(UUID id, UUID account) {
        requireOwned(id, account);
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
    public ConversationJson rename(UUID id, UUID account, String title) {
        ConversationEntity c = requireOwned(id, account);
        if (title == null || title.isBlank()) throw ApiException.badRequest("invalid_title", "The title must not be empty.");
        c.title = checkTitle(title);
        c.updatedAt = Instant.now();
        return ConversationJson.summary(c);
    }

    @Transactional
    public void delete(UUID id, UUID account) {
        requireOwned(id, account);
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

package org.groundchat.chat;

import io.quarkus.panache.common.Page;
import io.quarkus.panache.common.Sort;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.transaction.Transactional;
import org.groundchat.chat.view.ConversationJson;
import org.groundchat.chat.view.MessageJson;
import org.groundchat.chat.view.PageJson;
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
            throw ChatException.badRequest("invalid_owner", "The owner is longer than " + MAX_OWNER + " characters.");
        }
        if (owner != null && ControlCharacters.in(owner)) {
            throw ChatException.badRequest("invalid_owner", "The owner must not contain control characters.");
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
        if (page < 0) throw ChatException.badRequest("invalid_page", "page must be >= 0.");
        if (size < 1 || size > MAX_PAGE_SIZE) {
            throw ChatException.badRequest("invalid_size", "size must be between 1 and " + MAX_PAGE_SIZE + ".");
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

    private static ChatException unknown(UUID id) {
        return ChatException.notFound("unknown_conversation", "No conversation with id '" + id + "'.");
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
        if (title == null || title.isBlank()) throw ChatException.badRequest("invalid_title", "The title must not be empty.");
        c.title = checkTitle(title);
        c.updatedAt = Instant.now();
        return ConversationJson.summary(c);
    }

    /**
     * Deletes the conversation with its messages and regions (on delete cascade). Its images stay (other
     * conversations may show them, and they are the account's uploads); the answer lists those the account owns that
     * none of its other conversations shows any more, sorted, so a client can offer to delete them as well
     * ({@code DELETE /api/images/{id}}).
     */
    @Transactional
    public List<UUID> delete(UUID id, UUID account) {
        requireOwned(id, account);
        var em = ConversationEntity.getEntityManager();
        @SuppressWarnings("unchecked")
        List<Object> unused = em.createNativeQuery("select distinct x.image_id from ("
                        + "select c.image_id from conversations c where c.id = ?1 "
                        + "union select m.image_id from messages m where m.conversation_id = ?1) x "
                        + "where x.image_id is not null "
                        + "and exists (select 1 from image_owners o where o.image_id = x.image_id and o.account_id = ?2) "
                        + "and not exists (select 1 from conversations c where c.account_id = ?2 and c.id <> ?1 "
                        + "and c.image_id = x.image_id) "
                        + "and not exists (select 1 from messages m join conversations c on c.id = m.conversation_id "
                        + "where c.account_id = ?2 and c.id <> ?1 and m.image_id = x.image_id)")
                .setParameter(1, id).setParameter(2, account).getResultList();
        ConversationEntity.delete("id", id);
        return unused.stream().map(o -> o instanceof UUID u ? u : UUID.fromString(o.toString())).sorted().toList();
    }

    private static String checkTitle(String title) {
        String t = title.strip();
        if (t.length() > MAX_TITLE) {
            throw ChatException.badRequest("invalid_title", "The title is longer than " + MAX_TITLE + " characters.");
        }
        if (ControlCharacters.in(t)) {
            throw ChatException.badRequest("invalid_title", "The title must not contain control characters.");
        }
        return t;
    }
}

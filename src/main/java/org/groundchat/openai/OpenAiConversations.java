package org.groundchat.openai;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.List;
import java.util.UUID;
import org.groundchat.chat.ChatException;
import org.groundchat.chat.ConversationService;
import org.groundchat.chat.Ids;
import org.groundchat.chat.ImageService;
import org.groundchat.chat.TurnCoordinator;
import org.groundchat.chat.TurnRequest;
import org.groundchat.chat.TurnStore;
import org.groundchat.chat.UserText;
import org.groundchat.openai.ChatCompletionRequest.Message;
import org.groundchat.chat.Quotas;

/**
 * Turns a stateless Chat Completions request into a stored conversation turn. Continuing (a conversation id given):
 * only the last user message is new, the server already holds the rest. Otherwise a new conversation is created and
 * the request's earlier exchanges are stored into it first, so the model reads them as history; a request refused
 * halfway leaves no conversation behind (every check that needs no storage runs before anything is stored, the
 * account's limit on answers waiting or running included; images stored before a later refusal stay the account's,
 * as uploads do).
 */
@ApplicationScoped
class OpenAiConversations {
    @Inject
    ConversationService conversations;
    @Inject
    ImageService images;
    @Inject
    TurnStore store;
    @Inject
    TurnCoordinator coordinator;
    @Inject
    Quotas quotas;

    UUID submit(UUID account, String continued, ChatCompletionRequest req, TurnEventQueue events) {
        List<Message> messages = req.messages();
        Message last = messages.get(messages.size() - 1);
        requireText(last, messages.size() - 1);
        TurnRequest.Options options = new TurnRequest.Options(req.temperature(), req.topP(), null, req.maxTokens(), true, true,
                req.seed());
        if (continued != null) {
            UUID conversationId = Ids.parse(continued, "conversation");
            conversations.requireAccess(conversationId, account);
            // the account's place for the answer first: over its limit, the image is not stored either
            try (TurnCoordinator.AnswerSlot slot = coordinator.holdAnswerSlot(account)) {
                UUID image = last.image() == null ? null : images.upload(last.image(), account).id;
                coordinator.submitUserTurn(conversationId, account, turn(last, image, options), events, slot);
                return conversationId;
            }
        }
        checkHistory(messages);
        // every check that needs no storage comes first, so a refused request stores nothing
        try (TurnCoordinator.AnswerSlot slot = coordinator.holdAnswerSlot(account)) {
            quotas.take(account, Quotas.Rate.CONVERSATIONS);
            UUID[] imageIds = new UUID[messages.size()];
            UUID first = null;
            for (int i = 0; i < messages.size(); i++) {
                if (messages.get(i).image() == null) continue;
                imageIds[i] = images.upload(messages.get(i).image(), account).id;
                if (first == null) first = imageIds[i];
            }
            UUID conversationId = conversations.create(account, null, null, first).id();
            try {
                UUID current = first;
                for (int i = 0; i + 1 < messages.size(); i += 2) {
                    if (imageIds[i] != null) current = imageIds[i];
                    store.storeReplayedQuestion(conversationId, account, messages.get(i).text(), imageIds[i]);
                    store.storeClientAnswer(conversationId, current, messages.get(i + 1).text());
                }
                UUID lastImage = imageIds[messages.size() - 1];
                coordinator.submitUserTurn(conversationId, account, turn(last, lastImage, options), events, slot);
                return conversationId;
            } catch (RuntimeException e) {
                conversations.delete(conversationId, account);
                throw e;
            }
        }
    }

    private static TurnRequest turn(Message m, UUID image, TurnRequest.Options options) {
        return new TurnRequest(m.text(), image == null ? null : image.toString(), null, options);
    }

    /** A new conversation's history must read user, assistant, user, ... so each answer follows its question. */
    private static void checkHistory(List<Message> messages) {
        for (int i = 0; i < messages.size(); i++) {
            String expected = i % 2 == 0 ? "user" : "assistant";
            if (!expected.equals(messages.get(i).role())) {
                throw OpenAiException.invalid("messages", "invalid_value", "Messages must alternate user and assistant "
                        + "(system messages aside), starting and ending with a user message; message " + i + " is "
                        + messages.get(i).role() + ".");
            }
            requireText(messages.get(i), i);
        }
        if (messages.get(0).image() == null) {
            throw OpenAiException.invalid("messages", "image_required",
                    "Attach an image to the first user message (an image_url part with a base64 data: URL).");
        }
    }

    /** Empty, too long or with control characters: refused before anything is stored. */
    private static void requireText(Message m, int index) {
        String param = "messages[" + index + "].content";
        if (m.text().isBlank()) throw OpenAiException.invalid(param, "empty_text", "The message has no text.");
        try {
            UserText.checked(m.text());
        } catch (ChatException e) {
            throw OpenAiException.invalid(param, e.code(), e.reason());
        }
    }
}

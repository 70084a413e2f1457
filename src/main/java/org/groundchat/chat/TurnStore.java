package org.groundchat.chat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import jakarta.transaction.Transactional;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.groundchat.chat.view.MessageJson;
import org.groundchat.inference.GenerationEvents.GenerationResult;
import org.groundchat.inference.ChatEngine;
import org.groundchat.inference.GenerationEvents.MaskEvent;
import org.groundchat.inference.GenerationEvents.RegionEvent;
import org.groundchat.inference.GenerationEvents.WordPointEvent;
import org.groundchat.inference.PixelBox;
import org.groundchat.inference.PromptTurn;
import org.groundchat.persistence.AnswerStatus;
import org.groundchat.persistence.ConversationEntity;
import org.groundchat.persistence.ImageEntity;
import org.groundchat.persistence.MessageEntity;
import org.groundchat.persistence.RegionEntity;

/** The database side of a turn: the user message, the streaming answer, its end state, and the prompt history. */
@ApplicationScoped
public class TurnStore {
    static final ObjectMapper JSON = new ObjectMapper();

    @Inject
    ConversationService conversations;
    @Inject
    ChatEngine engine;
    @Inject
    AnswerClaims claims;

    /** What a validated, stored user turn needs for generation. */
    /** replaces: the answer a regenerate will replace once the new one completes (null for a new turn). */
    public record Accepted(UUID conversationId, UUID userMessageId, UUID imageId, MessageJson userMessage, UUID replaces) {}

    /**
     * Claims the conversation for the turn ({@link AnswerClaims}; false: another replica's answer holds it, nothing is
     * stored), then validates and stores the user turn with its drawn regions (numbered now), in one transaction.
     * Nothing is stored on a bad turn, and the claim is then not taken either.
     */
    @Transactional
    public Accepted claimAndStoreUserTurn(UUID turnId, UUID conversationId, UUID account, String text, UUID requestedImage,
                                          List<PixelBox> drawn) {
        if (!claims.claimInTransaction(conversationId, turnId)) return null;
        return storeUserTurn(conversationId, account, text, requestedImage, drawn, false);
    }

    /** The same for a question replayed from a client's history: its text is taken literally (UserText.literal). */
    @Transactional
    public Accepted storeReplayedQuestion(UUID conversationId, UUID account, String text, UUID requestedImage) {
        return storeUserTurn(conversationId, account, UserText.checked(text), requestedImage, List.of(), true);
    }

    private Accepted storeUserTurn(UUID conversationId, UUID account, String text, UUID requestedImage,
                                   List<PixelBox> drawn, boolean literal) {
        ConversationEntity c = ConversationService.requireOwned(conversationId, account);
        UUID imageId = requestedImage != null ? requestedImage : c.imageId;
        if (imageId == null) throw ChatException.badRequest("image_required", "Upload an image first: this conversation has none.");
        // a new image must be one the account uploaded; the conversation's current one was checked when it was set
        ImageEntity image = requestedImage != null ? ImageService.requireOwned(imageId, account) : ImageEntity.findById(imageId);
        if (image == null) throw ChatException.notFound("unknown_image", "No image with id '" + imageId + "'.");
        for (int i = 0; i < drawn.size(); i++) RegionChecks.requireInside(drawn.get(i), image.width, image.height, i + 1);
        // only the regions the text names, not every region of a long conversation; and the next number only when
        // regions are drawn now (only they are numbered: without them, resolve refuses any #k before reading it)
        Map<Integer, UUID> regionMessage = literal ? Map.of()
                : RegionEntity.messagesOf(conversationId, UserText.referencedNumbers(text));
        int first = drawn.isEmpty() ? 0 : RegionEntity.nextNumber(conversationId);
        UserText.Resolved resolved = literal ? UserText.literal(text)
                : UserText.resolve(text, drawn.size(), first, regionMessage.keySet());
        // a region is a place in one image: asked about another image it would point at nothing
        for (int number : resolved.slots()) {
            UUID messageId = regionMessage.get(number);
            MessageEntity owner = messageId == null ? null : MessageEntity.findById(messageId);
            if (owner != null && !imageId.equals(owner.imageId)) {
                throw ChatException.badRequest("region_on_other_image", "Region [" + number
                        + "] belongs to another image of this conversation; refer to regions of the image you ask about.");
            }
        }
        if (!engine.fitsAlone(resolved.model())) {
            throw ChatException.badRequest("text_too_long", "The message is too long for the model's context; shorten it.");
        }
        MessageEntity m = newMessage(conversationId, MessageEntity.USER, imageId);
        m.displayText = resolved.display();
        m.modelText = resolved.model();
        m.status = MessageEntity.COMPLETE;
        m.slotNumbers = json(resolved.slots());
        m.persist();
        List<RegionEntity> regions = new ArrayList<>();
        for (int i = 0; i < drawn.size(); i++) {
            PixelBox b = drawn.get(i);
            RegionEntity r = new RegionEntity();
            r.id = UUID.randomUUID();
            r.conversationId = conversationId;
            r.messageId = m.id;
            r.number = first + i;
            r.x1 = b.x1(); r.y1 = b.y1(); r.x2 = b.x2(); r.y2 = b.y2();
            r.source = RegionEntity.USER;
            r.persist();
            regions.add(r);
        }
        if (!imageId.equals(c.imageId)) c.imageId = imageId;
        if ("New conversation".equals(c.title)) c.title = abbreviate(resolved.display());
        c.updatedAt = Instant.now();
        RegionEntity.flush();
        return new Accepted(conversationId, m.id, imageId, MessageJson.of(m, regions), null);
    }

    /**
     * An answer a client brings along (the history of an OpenAI-style request): stored complete, without regions, as
     * plain words, so later prompts read it like any earlier answer.
     */
    @Transactional
    public void storeClientAnswer(UUID conversationId, UUID imageId, String text) {
        UserText.Resolved literal = UserText.literal(UserText.checked(text));
        MessageEntity m = newMessage(conversationId, MessageEntity.ASSISTANT, imageId);
        m.displayText = literal.display();
        m.modelText = literal.model(); // never markup: a "<boxes>" typed into a history would break every later prompt
        m.status = MessageEntity.COMPLETE;
        m.persist();
    }

    /** What an answer starts from: its first region's number, the prompt turns and the image's stored hash. */
    public record AnswerInputs(int firstRegion, List<PromptTurn> prompt, String imageSha256) {}

    /**
     * A started answer: its stored message, and its inputs or why they could not be read (the answer then ends
     * failed with that reason, as any failure during generation).
     */
    public record Started(UUID messageId, AnswerInputs inputs, ChatException inputsError) {}

    /**
     * Creates the assistant message in state "streaming", so an interrupted answer is never a silent gap, and reads
     * the answer's inputs in the same transaction (they were four: each costs CPU under load).
     */
    @Transactional
    public Started startAnswer(UUID conversationId, UUID userMessageId, UUID imageId) {
        MessageEntity m = newMessage(conversationId, MessageEntity.ASSISTANT, imageId);
        m.displayText = "";
        m.status = MessageEntity.STREAMING;
        m.persist();
        try {
            List<RegionEntity.Placed> places = RegionEntity.placesOf(conversationId);
            return new Started(m.id, new AnswerInputs(nextNumber(places),
                    promptTurns(conversationId, userMessageId, places), imageSha256(imageId)), null);
        } catch (ChatException e) {
            return new Started(m.id, null, e);
        }
    }

    /** The number the next region of the conversation gets: one past the highest, from the places already read. */
    private static int nextNumber(List<RegionEntity.Placed> places) {
        return places.isEmpty() ? 1 : places.get(places.size() - 1).number() + 1;
    }

    /** The stored image's SHA-256 (computed from its bytes at upload), without reading the bytes. */
    private static String imageSha256(UUID imageId) {
        return ImageEntity.getEntityManager().createQuery("select i.sha256 from ImageEntity i where i.id = :id", String.class)
                .setParameter("id", imageId).getResultStream().findFirst()
                .orElseThrow(() -> ChatException.notFound("unknown_image", "No image with id '" + imageId + "'."));
    }

    @Transactional
    public byte[] imageBytes(UUID imageId) {
        ImageEntity image = ImageEntity.findById(imageId);
        if (image == null) throw ChatException.notFound("unknown_image", "No image with id '" + imageId + "'.");
        return image.content;
    }

    /**
     * Model output as PostgreSQL can keep it: a model with byte-fallback tokens can write U+0000, which text columns
     * refuse (the answer could then never be stored); it becomes U+FFFD.
     */
    static String storable(String s) {
        return s == null ? null : s.replace('\u0000', '\uFFFD');
    }

    /**
     * Stores the answer's end state (complete, cancelled or failed) with its regions, masks and points. For a
     * regenerate ({@code replaces} set): a complete answer deletes the old one; otherwise the new one is dropped and
     * the old answer, still stored, is returned.
     */
    @Transactional
    public MessageJson finishAnswer(UUID messageId, UUID replaces, AnswerStatus status, GenerationResult r, String partialText,
                                    String reason, int firstNumber, Map<String, Object> timings) {
        return finish(messageId, replaces, status, r, partialText, reason, firstNumber, timings);
    }

    /**
     * {@link #finishAnswer}, and the turn's claim on the conversation given back in the same transaction: the answer's
     * end and the conversation's release commit together (one commit, not two).
     */
    @Transactional
    public MessageJson finishAnswerAndRelease(UUID turnId, UUID conversationId, UUID messageId, UUID replaces,
                                              AnswerStatus status, GenerationResult r, String partialText, String reason,
                                              int firstNumber, Map<String, Object> timings) {
        MessageJson stored = finish(messageId, replaces, status, r, partialText, reason, firstNumber, timings);
        claims.release(conversationId, turnId);
        return stored;
    }

    private MessageJson finish(UUID messageId, UUID replaces, AnswerStatus status, GenerationResult r, String partialText,
                               String reason, int firstNumber, Map<String, Object> timings) {
        if (replaces != null) {
            MessageEntity old = MessageEntity.findById(replaces);
            if (status != AnswerStatus.COMPLETE && old != null) {
                RegionEntity.delete("messageId", messageId);
                MessageEntity.deleteById(messageId);
                return MessageJson.of(old, RegionEntity.list("messageId", old.id));
            }
            if (old != null) {
                RegionEntity.delete("messageId", old.id);
                old.delete();
            }
        }
        MessageEntity m = MessageEntity.findById(messageId);
        List<RegionEntity> stored = new ArrayList<>(); // the regions this answer stores
        m.status = status.stored();
        m.errorReason = reason;
        if (r != null) {
            m.displayText = storable(r.displayText());
            m.modelText = storable(r.modelText());
            m.promptTokens = r.promptTokens();
            m.completionTokens = r.completionTokens();
            m.timingsJson = json(timings);
            Map<Integer, MaskEvent> masks = new HashMap<>();
            for (MaskEvent e : r.masks()) masks.put(e.regionIndex(), e);
            for (RegionEvent e : r.regions()) {
                RegionEntity reg = new RegionEntity();
                reg.id = UUID.randomUUID();
                reg.conversationId = m.conversationId;
                reg.messageId = m.id;
                reg.number = firstNumber + e.index();
                reg.x1 = e.box().x1(); reg.y1 = e.box().y1(); reg.x2 = e.box().x2(); reg.y2 = e.box().y2();
                reg.source = RegionEntity.MODEL;
                reg.phrase = storable(e.phrase());
                reg.phraseStart = e.phraseStart();
                reg.phraseEnd = e.phraseEnd();
                MaskEvent mask = masks.get(e.index());
                if (mask != null) {
                    reg.score = (double) mask.score();
                    reg.maskJson = json(Map.of("size", List.of(mask.mask().height(), mask.mask().width()),
                            "counts", mask.mask().counts()));
                }
                List<Map<String, Object>> pts = new ArrayList<>();
                for (WordPointEvent p : r.points()) {
                    if (p.regionIndex() != e.index()) continue;
                    Map<String, Object> point = EventJson.point(p, null);
                    point.put("word", storable(p.word()));
                    pts.add(point);
                }
                reg.pointsJson = pts.isEmpty() ? null : json(pts);
                reg.persist();
                stored.add(reg);
            }
        } else if (partialText != null) {
            m.displayText = storable(partialText);
        }
        ConversationEntity c = ConversationEntity.findById(m.conversationId);
        if (c != null) c.updatedAt = Instant.now();
        RegionEntity.flush();
        // an answer's regions are all stored here, at its end: what was just persisted is the whole list, in the
        // order a read of them by number would give
        stored.sort(Comparator.comparingInt(x -> x.number));
        return MessageJson.of(m, stored);
    }

    /** Ends an answer as failed unless it has ended already or was deleted with its conversation meanwhile. */
    @Transactional
    public void failIfStreaming(UUID messageId, UUID replaces, String partialText, String reason) {
        MessageEntity m = MessageEntity.findById(messageId);
        if (m == null || !MessageEntity.STREAMING.equals(m.status)) return;
        finish(messageId, replaces, AnswerStatus.FAILED, null, partialText, reason, 0, null);
    }

    /**
     * The prompt: earlier complete exchanges about the same image, then the new user turn. Each user slot is filled
     * with the box of the region it names; each answer slot with the answer's own regions in order.
     */
    private List<PromptTurn> promptTurns(UUID conversationId, UUID userMessageId, List<RegionEntity.Placed> places) {
        List<MessageEntity.Said> all = MessageEntity.saidIn(conversationId);
        Map<Integer, RegionEntity.Placed> byNumber = new HashMap<>();
        Map<UUID, List<RegionEntity.Placed>> byMessage = new LinkedHashMap<>();
        for (RegionEntity.Placed r : places) {
            byNumber.put(r.number(), r);
            byMessage.computeIfAbsent(r.messageId(), k -> new ArrayList<>()).add(r);
        }
        MessageEntity.Said current = all.stream().filter(m -> m.id().equals(userMessageId)).findFirst()
                .orElseThrow(() -> ChatException.notFound("unknown_message", "The user message is gone."));
        List<PromptTurn> turns = new ArrayList<>();
        for (int i = 0; i + 1 < all.size(); i++) {
            MessageEntity.Said u = all.get(i), a = all.get(i + 1);
            if (u.id().equals(userMessageId)) break;
            if (!MessageEntity.USER.equals(u.role()) || !MessageEntity.ASSISTANT.equals(a.role())
                    || !MessageEntity.COMPLETE.equals(a.status()) || !current.imageId().equals(u.imageId())) continue;
            turns.add(PromptTurn.user(u.modelText(), slotBoxes(u, byNumber)));
            List<PixelBox> answerBoxes = byMessage.getOrDefault(a.id(), List.of()).stream()
                    .map(TurnStore::box).toList();
            turns.add(PromptTurn.assistant(a.modelText(), answerBoxes));
            i++;
        }
        turns.add(PromptTurn.user(current.modelText(), slotBoxes(current, byNumber)));
        return turns;
    }

    /**
     * For regenerate: the last user message and the answer to replace. The old answer stays until the new one
     * completes (finishAnswer swaps them), so a stopped, failed or interrupted regenerate loses nothing.
     */
    @Transactional
    public Accepted answerToRegenerate(UUID conversationId) {
        ConversationService.require(conversationId);
        List<MessageEntity> all = MessageEntity.ofConversation(conversationId);
        if (all.isEmpty()) throw ChatException.badRequest("nothing_to_regenerate", "The conversation has no message yet.");
        MessageEntity last = all.get(all.size() - 1);
        MessageEntity user = last;
        UUID replaces = null;
        if (MessageEntity.ASSISTANT.equals(last.role)) {
            if (MessageEntity.STREAMING.equals(last.status)) {
                throw ChatException.conflict("turn_in_progress", "An answer is still being generated.");
            }
            replaces = last.id;
            user = all.size() > 1 ? all.get(all.size() - 2) : null;
        }
        if (user == null || !MessageEntity.USER.equals(user.role)) {
            throw ChatException.badRequest("nothing_to_regenerate", "There is no user message to answer again.");
        }
        return new Accepted(conversationId, user.id, user.imageId, MessageJson.of(user, RegionEntity.list("messageId", user.id)),
                replaces);
    }

    private static PixelBox box(RegionEntity.Placed r) {
        return new PixelBox(r.x1(), r.y1(), r.x2(), r.y2());
    }

    private List<PixelBox> slotBoxes(MessageEntity.Said m, Map<Integer, RegionEntity.Placed> byNumber) {
        List<PixelBox> boxes = new ArrayList<>();
        if (m.slotNumbers() == null) return boxes;
        try {
            for (int n : JSON.readValue(m.slotNumbers(), int[].class)) {
                RegionEntity.Placed r = byNumber.get(n);
                if (r == null) throw ChatException.notFound("unknown_region", "Region [" + n + "] no longer exists.");
                boxes.add(box(r));
            }
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("corrupt slot_numbers of message " + m.id(), e);
        }
        return boxes;
    }

    private static MessageEntity newMessage(UUID conversationId, String role, UUID imageId) {
        MessageEntity m = new MessageEntity();
        m.id = UUID.randomUUID();
        m.conversationId = conversationId;
        m.seq = MessageEntity.nextSeq(conversationId);
        m.role = role;
        m.imageId = imageId;
        m.createdAt = Instant.now();
        return m;
    }

    private static String abbreviate(String s) {
        return s.length() <= 60 ? s : s.substring(0, 57) + "...";
    }

    static String json(Object o) {
        try {
            return JSON.writeValueAsString(o);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}

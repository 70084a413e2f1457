package org.groundchat.persistence;

import io.quarkus.hibernate.orm.panache.PanacheEntityBase;
import jakarta.persistence.*;

import java.time.Instant;
import java.util.List;
import java.util.UUID;

/** One user or assistant message; seq orders the messages of a conversation. */
@Entity
@Table(name = "messages")
public class MessageEntity extends PanacheEntityBase {
    public static final String USER = "user";
    public static final String ASSISTANT = "assistant";
    public static final String STREAMING = AnswerStatus.STREAMING.stored();
    public static final String COMPLETE = AnswerStatus.COMPLETE.stored();
    public static final String CANCELLED = AnswerStatus.CANCELLED.stored();
    public static final String FAILED = AnswerStatus.FAILED.stored();

    @Id
    public UUID id;
    @Column(name = "conversation_id")
    public UUID conversationId;
    public int seq;
    public String role;
    @Column(name = "display_text")
    public String displayText;
    /** The model's own markup (with &lt;p&gt; &lt;at&gt; &lt;boxes&gt;), used to re-feed the turn. */
    @Column(name = "model_text")
    public String modelText;
    public String status;
    @Column(name = "error_reason")
    public String errorReason;
    @Column(name = "image_id")
    public UUID imageId;
    @Column(name = "timings_json")
    public String timingsJson;
    @Column(name = "prompt_tokens")
    public Integer promptTokens;
    @Column(name = "completion_tokens")
    public Integer completionTokens;
    @Column(name = "created_at")
    public Instant createdAt;
    /** JSON array of region numbers filling the &lt;boxes&gt; slots of a user message's model text, in order. */
    @Column(name = "slot_numbers")
    public String slotNumbers;

    public static List<MessageEntity> ofConversation(UUID conversationId) {
        return list("conversationId = ?1 order by seq", conversationId);
    }

    /** What a prompt reads of a message: no display text, timings or counts, and not an entity to track. */
    public record Said(UUID id, String role, String status, UUID imageId, String modelText, String slotNumbers) {}

    /**
     * The conversation's messages in order, as a prompt reads them. Plain SQL rows instead of entities: every turn
     * reads the whole conversation, and managed entities cost a dirty check each at the transaction's end.
     */
    public static List<Said> saidIn(UUID conversationId) {
        List<Object[]> rows = getEntityManager().createNativeQuery("select id, role, status, image_id, model_text,"
                + " slot_numbers from messages where conversation_id = ?1 order by seq")
                .setParameter(1, conversationId).getResultList();
        return rows.stream().map(o -> new Said((UUID) o[0], (String) o[1], (String) o[2], (UUID) o[3], (String) o[4],
                (String) o[5])).toList();
    }

    public static int nextSeq(UUID conversationId) {
        Integer max = getEntityManager()
                .createQuery("select max(m.seq) from MessageEntity m where m.conversationId = ?1", Integer.class)
                .setParameter(1, conversationId).getSingleResult();
        return max == null ? 1 : max + 1;
    }
}

package org.groundchat.persistence;

import io.quarkus.hibernate.orm.panache.PanacheEntityBase;
import jakarta.persistence.*;

import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

/** A region ([n]) of a conversation: drawn by the user or found by the model. Box in image pixels. */
@Entity
@Table(name = "regions")
public class RegionEntity extends PanacheEntityBase {
    public static final String USER = "user";
    public static final String MODEL = "model";

    @Id
    public UUID id;
    @Column(name = "conversation_id")
    public UUID conversationId;
    @Column(name = "message_id")
    public UUID messageId;
    public int number;
    public double x1;
    public double y1;
    public double x2;
    public double y2;
    public String source;
    public String phrase;
    @Column(name = "phrase_start")
    public Integer phraseStart;
    @Column(name = "phrase_end")
    public Integer phraseEnd;
    public Double score;
    @Column(name = "mask_json")
    public String maskJson;
    @Column(name = "points_json")
    public String pointsJson;

    public static List<RegionEntity> ofConversation(UUID conversationId) {
        return list("conversationId = ?1 order by number", conversationId);
    }

    /** The number the conversation's next region gets: one past the highest (its unique index answers this). */
    public static int nextNumber(UUID conversationId) {
        return ((Number) getEntityManager().createNativeQuery("select coalesce(max(number), 0) + 1 from regions"
                + " where conversation_id = ?1").setParameter(1, conversationId).getSingleResult()).intValue();
    }

    /** The message each of these region numbers belongs to, for the numbers the conversation has. */
    @SuppressWarnings("unchecked")
    public static Map<Integer, UUID> messagesOf(UUID conversationId, Collection<Integer> numbers) {
        Map<Integer, UUID> messages = new HashMap<>();
        if (numbers.isEmpty()) return messages;
        List<Object[]> rows = getEntityManager().createNativeQuery("select number, message_id from regions"
                + " where conversation_id = ?1 and number in (?2)").setParameter(1, conversationId)
                .setParameter(2, numbers).getResultList();
        for (Object[] r : rows) messages.put(((Number) r[0]).intValue(), (UUID) r[1]);
        return messages;
    }

    /** Where a region is, without its mask and points: what prompts and question checks need. */
    public record Placed(int number, UUID messageId, double x1, double y1, double x2, double y2) {}

    /**
     * The places of a conversation's regions, by number. A projection, not entities: every turn reads them, and
     * loading the regions whole would read each mask and point list again and compare them at every flush.
     */
    @SuppressWarnings("unchecked")
    public static List<Placed> placesOf(UUID conversationId) {
        // plain SQL: as HQL this multi-column select was parsed anew at every call (a sixth of the service's Java
        // time under load)
        List<Object[]> rows = getEntityManager().createNativeQuery("select number, message_id, x1, y1, x2, y2 from regions"
                + " where conversation_id = ?1 order by number").setParameter(1, conversationId).getResultList();
        return rows.stream().map(o -> new Placed(((Number) o[0]).intValue(), (UUID) o[1], ((Number) o[2]).doubleValue(),
                ((Number) o[3]).doubleValue(), ((Number) o[4]).doubleValue(), ((Number) o[5]).doubleValue())).toList();
    }

    public static Optional<RegionEntity> byNumber(UUID conversationId, int number) {
        return find("conversationId = ?1 and number = ?2", conversationId, number).firstResultOptional();
    }
}

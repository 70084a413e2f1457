package org.groundchat.persistence;

import io.quarkus.hibernate.orm.panache.PanacheEntityBase;
import jakarta.persistence.*;

import java.util.List;
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

    public static Optional<RegionEntity> byNumber(UUID conversationId, int number) {
        return find("conversationId = ?1 and number = ?2", conversationId, number).firstResultOptional();
    }

    public static int nextNumber(UUID conversationId) {
        Integer max = getEntityManager()
                .createQuery("select max(r.number) from RegionEntity r where r.conversationId = ?1", Integer.class)
                .setParameter(1, conversationId).getSingleResult();
        return max == null ? 1 : max + 1;
    }
}

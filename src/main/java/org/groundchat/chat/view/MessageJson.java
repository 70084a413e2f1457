package org.groundchat.chat.view;

import com.fasterxml.jackson.databind.JsonNode;
import org.groundchat.persistence.MessageEntity;
import org.groundchat.persistence.RegionEntity;

import java.time.Instant;
import java.util.List;
import java.util.UUID;

/** A stored message with its regions. timings is the JSON object of the answer's stage timings (assistant only). */
public record MessageJson(UUID id, String role, String text, String status, String errorReason, UUID imageId,
                          Instant createdAt, JsonNode timings, Integer promptTokens,
                          Integer completionTokens, List<RegionJson> regions) {

    public static MessageJson of(MessageEntity m, List<RegionEntity> regions) {
        return new MessageJson(m.id, m.role, m.displayText, m.status, m.errorReason, m.imageId, m.createdAt,
                RawJson.parse(m.timingsJson), m.promptTokens, m.completionTokens, regions.stream().map(RegionJson::of).toList());
    }
}

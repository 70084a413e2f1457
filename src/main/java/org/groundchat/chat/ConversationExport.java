package org.groundchat.chat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.transaction.Transactional;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.groundchat.inference.MaskRleCodec;
import org.groundchat.persistence.ConversationEntity;
import org.groundchat.persistence.ImageEntity;
import org.groundchat.persistence.MessageEntity;
import org.groundchat.persistence.RegionEntity;

/**
 * COCO annotations of a conversation's regions: one image entry per image used, one annotation per region with its
 * bbox [x, y, w, h] and, when a mask exists, COCO's uncompressed RLE (column-major, as COCO tools expect).
 * Categories are the shape words of the world's vocabulary found in the phrase, else "region".
 */
@ApplicationScoped
public class ConversationExport {
    private static final List<String> SHAPES = List.of("circle", "square", "triangle", "star", "hexagon", "diamond");
    private static final ObjectMapper JSON = new ObjectMapper();

    @Transactional
    public Map<String, Object> coco(UUID conversationId, UUID account) {
        ConversationEntity c = ConversationService.requireOwned(conversationId, account);
        Map<UUID, MessageEntity> messages = new LinkedHashMap<>();
        for (MessageEntity m : MessageEntity.ofConversation(conversationId)) messages.put(m.id, m);
        List<String> categories = new ArrayList<>(SHAPES);
        categories.add("region");
        Map<UUID, Integer> imageIds = new LinkedHashMap<>();
        List<Map<String, Object>> images = new ArrayList<>(), annotations = new ArrayList<>();
        for (RegionEntity r : RegionEntity.ofConversation(conversationId)) {
            MessageEntity m = messages.get(r.messageId);
            UUID imageId = m != null && m.imageId != null ? m.imageId : c.imageId;
            if (imageId == null) continue;
            ImageEntity img = ImageEntity.findById(imageId);
            if (img == null) continue;
            Integer cocoImage = imageIds.get(imageId);
            if (cocoImage == null) {
                cocoImage = imageIds.size() + 1;
                imageIds.put(imageId, cocoImage);
                images.add(Map.of("id", cocoImage, "width", img.width, "height", img.height,
                        "file_name", imageId + "." + img.mimeType.substring(img.mimeType.indexOf('/') + 1)));
            }
            Map<String, Object> a = new LinkedHashMap<>();
            a.put("id", r.number);
            a.put("image_id", cocoImage);
            a.put("category_id", category(r.phrase, categories));
            a.put("bbox", List.of(r.x1, r.y1, r.x2 - r.x1, r.y2 - r.y1));
            a.put("area", (r.x2 - r.x1) * (r.y2 - r.y1));
            a.put("iscrowd", 0);
            if (r.maskJson != null) {
                boolean[] mask = MaskRleCodec.decode(read(r.maskJson));
                a.put("segmentation", Map.of("size", List.of(img.height, img.width), "counts", columnMajor(mask, img.width, img.height)));
                long area = 0;
                for (boolean b : mask) if (b) area++;
                a.put("area", area);
            }
            a.put("source", r.source);
            a.put("phrase", r.phrase);
            annotations.add(a);
        }
        List<Map<String, Object>> cats = new ArrayList<>();
        for (int i = 0; i < categories.size(); i++) cats.add(Map.of("id", i + 1, "name", categories.get(i)));
        return Map.of("info", Map.of("description", "GroundChat conversation " + conversationId + ": " + c.title),
                "images", images, "annotations", annotations, "categories", cats);
    }

    private static int category(String phrase, List<String> categories) {
        if (phrase != null) {
            for (String w : phrase.split("\\s+")) {
                int i = SHAPES.indexOf(w);
                if (i >= 0) return i + 1;
            }
        }
        return categories.size();
    }

    private static List<Integer> columnMajor(boolean[] rowMajor, int width, int height) {
        List<Integer> counts = new ArrayList<>();
        boolean current = false;
        int run = 0;
        for (int x = 0; x < width; x++) {
            for (int y = 0; y < height; y++) {
                boolean v = rowMajor[y * width + x];
                if (v != current) {
                    counts.add(run);
                    run = 0;
                    current = v;
                }
                run++;
            }
        }
        counts.add(run);
        return counts;
    }

    private static JsonNode read(String json) {
        try {
            return JSON.readTree(json);
        } catch (Exception e) {
            throw new IllegalStateException("corrupt mask json", e);
        }
    }
}

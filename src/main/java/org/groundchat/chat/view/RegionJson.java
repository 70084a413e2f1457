package org.groundchat.chat.view;

import com.fasterxml.jackson.databind.JsonNode;
import org.groundchat.persistence.RegionEntity;

/**
 * A region as clients see it. box is [x1,y1,x2,y2] in image pixels; mask is the row-major RLE
 * {@code {"size":[h,w],"counts":[...]}} or null; points are [{word,start,end,x,y}] or null.
 */
public record RegionJson(int number, double[] box, String source, String phrase, Integer phraseStart,
                         Integer phraseEnd, Double score, JsonNode mask, JsonNode points) {

    public static RegionJson of(RegionEntity r) {
        return new RegionJson(r.number, new double[] {r.x1, r.y1, r.x2, r.y2}, r.source, r.phrase, r.phraseStart,
                r.phraseEnd, r.score, RawJson.parse(r.maskJson), RawJson.parse(r.pointsJson));
    }

    /** The same region without its mask (the WebSocket sends masks in their own event). */
    public RegionJson withoutMask() {
        return new RegionJson(number, box, source, phrase, phraseStart, phraseEnd, score, null, points);
    }
}

package org.groundchat.websocket;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import java.util.List;
import org.groundchat.chat.TurnRequest;

/** The JSON form of a user_turn frame: regions are objects {"box":[x1,y1,x2,y2]}. */
@JsonIgnoreProperties(ignoreUnknown = true)
record TurnRequestFrame(String type, String text, String imageId, List<Region> regions, TurnRequest.Options options) {
    @JsonIgnoreProperties(ignoreUnknown = true)
    record Region(List<Double> box) {}

    TurnRequest toRequest() {
        List<List<Double>> boxes = regions == null ? null : regions.stream().map(r -> r == null ? null : r.box()).toList();
        return new TurnRequest(text, imageId, boxes, options);
    }
}

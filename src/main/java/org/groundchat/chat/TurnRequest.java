package org.groundchat.chat;

import java.util.List;

/**
 * A user turn as a client sends it. regions: boxes drawn in this turn, [x1,y1,x2,y2] in image pixels, referenced in
 * the text as #1, #2...; earlier regions are referenced as [n].
 */
public record TurnRequest(String text, String imageId, List<List<Double>> regions, Options options) {
    public record Options(Double temperature, Double topP, Integer topK, Integer maxTokens, Boolean masks,
                          Boolean points, Long seed) {}
}

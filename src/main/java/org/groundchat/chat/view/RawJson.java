package org.groundchat.chat.view;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/** Parses JSON stored in text columns (masks, points, timings) for embedding in API responses. */
final class RawJson {
    private static final ObjectMapper JSON = new ObjectMapper();

    private RawJson() {}

    static JsonNode parse(String json) {
        if (json == null) return null;
        try {
            return JSON.readTree(json);
        } catch (Exception e) {
            throw new IllegalStateException("stored JSON is corrupt: " + e.getMessage(), e);
        }
    }
}

package org.groundchat.inference;

/**
 * Decoding settings. temperature 0 means greedy; topK 0 and topP 1 disable those filters.
 * maxNewTokens 0 means the bundle's default (bundle.json generation.max_new_tokens).
 * masks/points switch the mask decoder and the per-word point head on or off.
 */
public record GenerationOptions(double temperature, double topP, int topK, int maxNewTokens, long seed,
                                boolean masks, boolean points) {

    public static GenerationOptions greedy() {
        return new GenerationOptions(0, 1, 0, 0, 0, true, true);
    }
}

package org.groundchat.inference;

import java.util.List;
import java.util.function.IntFunction;

/**
 * Everything one answer needs. {@code turns} holds the conversation so far and ends with the current user
 * turn. {@code regionLabel} turns the 0-based index of a region within this answer into the text shown
 * after its phrase (for example {@code i -> "[" + (firstNumber + i) + "]"}).
 */
public record GenerationRequest(byte[] image, List<PromptTurn> turns, GenerationOptions options,
                                IntFunction<String> regionLabel, CancellationToken cancellation) {

    public GenerationRequest {
        turns = List.copyOf(turns);
        if (options == null) options = GenerationOptions.greedy();
        if (regionLabel == null) regionLabel = i -> "[" + (i + 1) + "]";
        if (cancellation == null) cancellation = new CancellationToken();
    }
}

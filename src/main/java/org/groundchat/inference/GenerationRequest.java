package org.groundchat.inference;

import java.util.List;
import java.util.function.IntFunction;
import java.util.function.Supplier;

/**
 * Everything one answer needs. {@code turns} holds the conversation so far and ends with the current user
 * turn. {@code regionLabel} turns the 0-based index of a region within this answer into the text shown
 * after its phrase (for example {@code i -> "[" + (firstNumber + i) + "]"}).
 *
 * <p>The image comes as bytes ({@code image}), or as a {@link StoredImage}: the caller's record of an image it keeps
 * under its SHA-256, whose bytes the engine loads only when its features are not cached (a service need not read
 * and hash a 20 MB blob for every answer about an image it stored once).
 */
public record GenerationRequest(byte[] image, List<PromptTurn> turns, GenerationOptions options,
                                IntFunction<String> regionLabel, CancellationToken cancellation, StoredImage stored) {

    /** An image the caller stored with its SHA-256 (computed from these very bytes); {@code bytes} loads them. */
    public record StoredImage(String sha256, Supplier<byte[]> bytes) {
        public StoredImage {
            if (sha256 == null || sha256.isBlank() || bytes == null) throw new IllegalArgumentException("sha256 and bytes are required");
        }
    }

    public GenerationRequest {
        turns = List.copyOf(turns);
        if (options == null) options = GenerationOptions.greedy();
        if (regionLabel == null) regionLabel = i -> "[" + (i + 1) + "]";
        if (cancellation == null) cancellation = new CancellationToken();
    }

    public GenerationRequest(byte[] image, List<PromptTurn> turns, GenerationOptions options,
                             IntFunction<String> regionLabel, CancellationToken cancellation) {
        this(image, turns, options, regionLabel, cancellation, null);
    }

    /** A request about an image the caller keeps (see {@link StoredImage}). */
    public static GenerationRequest about(StoredImage image, List<PromptTurn> turns, GenerationOptions options,
                                          IntFunction<String> regionLabel, CancellationToken cancellation) {
        return new GenerationRequest(null, turns, options, regionLabel, cancellation, image);
    }
}

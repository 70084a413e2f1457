package org.groundchat.inference;

import java.util.List;

/**
 * One earlier or current turn of a conversation, in the model's own text form.
 * User turns write a region as the token {@code <boxes>}; assistant turns keep the model's
 * {@code <p> phrase </p> <at> <boxes>} markup. {@code slotBoxes} fill the {@code <boxes>} slots in order.
 */
public record PromptTurn(Role role, String modelText, List<PixelBox> slotBoxes) {

    public enum Role { USER, ASSISTANT }

    public PromptTurn {
        slotBoxes = List.copyOf(slotBoxes);
    }

    public static PromptTurn user(String modelText, List<PixelBox> boxes) {
        return new PromptTurn(Role.USER, modelText, boxes);
    }

    public static PromptTurn assistant(String modelText, List<PixelBox> boxes) {
        return new PromptTurn(Role.ASSISTANT, modelText, boxes);
    }
}

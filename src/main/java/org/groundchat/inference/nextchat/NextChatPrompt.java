package org.groundchat.inference.nextchat;

import java.util.ArrayList;
import java.util.List;
import org.groundchat.inference.BpeTokenizer;
import org.groundchat.inference.InferenceException;
import org.groundchat.inference.PixelBox;
import org.groundchat.inference.PromptTurn;

/**
 * The LLaVA v1 prompt of contract 3 as ids, and the boxes of its {@code <boxes>} slots:
 * {@code {system} USER: {image} {user} ASSISTANT: {answer}</s>USER: {user} ASSISTANT:}, the image tokens in the
 * first user turn only, the whole string tokenized at once with {@code <s>} first (NExT-Chat's added tokens strip
 * the spaces around them, which the tokenizer does).
 *
 * @param ids      prompt token ids
 * @param slots    normalized boxes (square frame), one per {@code <boxes>} id, in order
 */
record NextChatPrompt(long[] ids, float[] slots) {

    static NextChatPrompt build(List<PromptTurn> turns, NextChatManifest m, BpeTokenizer tok, SquareFrame frame) {
        if (turns.isEmpty() || turns.get(turns.size() - 1).role() != PromptTurn.Role.USER) {
            throw new InferenceException("The conversation must end with a user turn");
        }
        StringBuilder text = new StringBuilder(m.system());
        List<PixelBox> boxes = new ArrayList<>();
        boolean first = true;
        for (PromptTurn t : turns) {
            if (t.role() == PromptTurn.Role.USER) {
                text.append(first ? " USER: " + imageText(m, tok) + " " : "USER: ").append(t.modelText())
                        .append(" ASSISTANT:");
                first = false;
            } else {
                text.append(' ').append(t.modelText()).append(tok.token(m.eos()));
            }
            boxes.addAll(t.slotBoxes());
        }
        int[] enc = tok.encode(text.toString(), true);
        long[] ids = new long[enc.length];
        int slotCount = 0;
        for (int i = 0; i < enc.length; i++) {
            ids[i] = enc[i];
            if (enc[i] == m.boxes()) slotCount++;
        }
        if (slotCount != boxes.size()) {
            throw new InferenceException("The conversation has " + slotCount + " <boxes> slots but " + boxes.size()
                    + " boxes for them");
        }
        float[] slots = new float[4 * boxes.size()];
        for (int i = 0; i < boxes.size(); i++) System.arraycopy(frame.toNormalized(boxes.get(i)), 0, slots, 4 * i, 4);
        return new NextChatPrompt(ids, slots);
    }

    private static String imageText(NextChatManifest m, BpeTokenizer tok) {
        return tok.token(m.imageStart()) + tok.token(m.imagePatch()).repeat(m.imageTokens()) + tok.token(m.imageEnd());
    }
}

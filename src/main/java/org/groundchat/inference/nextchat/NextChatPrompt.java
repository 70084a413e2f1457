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
 * the spaces around them, which the tokenizer does). Earlier turns that do not fit the model's context with room for
 * the answer are dropped, oldest question-and-answer pair first, as the default engine's prompt does; the image
 * tokens then open the first turn kept.
 *
 * @param ids      prompt token ids
 * @param slots    normalized boxes (square frame), one per {@code <boxes>} id, in order
 */
record NextChatPrompt(long[] ids, float[] slots) {

    /**
     * The prompt of the latest turns that leave {@code answerRoom} positions of the context free.
     *
     * @throws InferenceException when even the last question alone leaves no room for the answer
     */
    static NextChatPrompt fitting(List<PromptTurn> turns, NextChatManifest m, BpeTokenizer tok, SquareFrame frame,
                                  int answerRoom) {
        int first = 0;
        while (true) {
            NextChatPrompt p = build(turns.subList(first, turns.size()), m, tok, frame);
            // a user turn stays first so that the image opens a question, never an answer
            int next = turns.get(first).role() == PromptTurn.Role.USER ? first + 2 : first + 1;
            if (p.ids.length + answerRoom <= m.maxSeq()) return p;
            if (next >= turns.size()) {
                throw new InferenceException("The message is too long for the model: " + p.ids.length
                        + " prompt tokens, the context is " + m.maxSeq() + " including " + answerRoom
                        + " for the answer");
            }
            first = next;
        }
    }

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

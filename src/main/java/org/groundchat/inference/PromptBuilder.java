package org.groundchat.inference;

import java.util.ArrayList;
import java.util.List;

/**
 * Lays out a conversation as the manifest's prompt template:
 * {@code <user> <image> text <end> <assistant> answer <end> <user> text <end> <assistant>}.
 * {@code <image>} appears once, in the first user turn kept, and stands for the image-token rows. Every
 * {@code <boxes>} token is a slot whose embedding the box encoder will provide from the turn's boxes.
 * Turns that do not fit the context (with room for the answer) are dropped oldest first, several exchanges at once.
 */
final class PromptBuilder {
    /** Token ids (with a single {@code <image>} id) and, per {@code <boxes>} slot, its index and normalized box. */
    record Prompt(int[] ids, List<Integer> slotPositions, List<float[]> slotBoxes, int imagePosition,
                  int droppedTurns) {}

    private final WordLevelTokenizer tok;
    private final BundleManifest.SpecialTokens sp;
    private final int maxSeq, imageTokens;

    PromptBuilder(WordLevelTokenizer tok, BundleManifest m) {
        this.tok = tok;
        this.sp = m.specialTokens();
        this.maxSeq = m.dims().maxSeq();
        this.imageTokens = m.dims().imageTokens();
    }

    Prompt build(List<PromptTurn> turns, int width, int height, int reserveForAnswer) {
        if (turns.isEmpty() || turns.get(turns.size() - 1).role() != PromptTurn.Role.USER) {
            throw new InferenceException("The conversation must end with a user turn.");
        }
        for (int i = 0; i < turns.size(); i++) {
            PromptTurn.Role expected = (turns.size() - 1 - i) % 2 == 0 ? PromptTurn.Role.USER : PromptTurn.Role.ASSISTANT;
            if (turns.get(i).role() != expected) {
                throw new InferenceException("Turns must alternate user/assistant; turn " + (i + 1) + " is " + turns.get(i).role());
            }
        }
        int base = turns.get(0).role() == PromptTurn.Role.USER ? 0 : 1;
        // each turn is encoded and checked once; the prompt's length from any first turn is then a sum, so a long
        // conversation costs one pass, not one layout per block of dropped exchanges
        int[][] text = new int[turns.size()][];
        for (int t = base; t < turns.size(); t++) text[t] = checkedText(turns.get(t), width, height);
        int[] idsFrom = new int[turns.size() + 1]; // ids of the turns from t on, <image> not counted
        for (int t = turns.size() - 1; t >= base; t--) {
            boolean user = turns.get(t).role() == PromptTurn.Role.USER;
            idsFrom[t] = idsFrom[t + 1] + text[t].length + (user ? 3 : 1); // <user> text <end> <assistant> | text <end>
        }
        // Older exchanges are dropped DROP_EXCHANGES at a time, so the next turns keep the same start (their prompts
        // extend this one and are prefilled from the prompt cache) until the context is full again, as llama.cpp's
        // context shift does. Only when a whole block would take the new question too are exchanges dropped one by one.
        int first = base;
        while (true) {
            int length = positions(idsFrom[first] + 1); // the first turn kept is a user turn: it holds <image>
            if (fits(length, reserveForAnswer)) return layout(turns, text, first, width, height);
            if (first + 2 >= turns.size()) {
                throw new InferenceException("The message is too long: " + length + " prompt positions, the model's context is "
                        + maxSeq + " including " + reserveForAnswer + " for the answer.");
            }
            first += first + 2 * DROP_EXCHANGES < turns.size() ? 2 * DROP_EXCHANGES : 2;
        }
    }

    /** Earlier exchanges (a question and its answer) dropped at once when the context is full. */
    static final int DROP_EXCHANGES = 3;

    /** Whether one user turn alone (no history) leaves room for the answer: what no dropping of turns can fix. */
    boolean fitsAlone(String userModelText, int reserveForAnswer) {
        // <user> <image> text <end> <assistant>
        return fits(positions(tok.encode(userModelText).length + 4), reserveForAnswer);
    }

    /** Context positions of a prompt of that many ids, its one {@code <image>} id expanded to the image rows. */
    private int positions(int ids) {
        return ids - 1 + imageTokens;
    }

    private boolean fits(int positions, int reserveForAnswer) {
        return positions + reserveForAnswer <= maxSeq;
    }

    /** A turn's token ids, after the checks of its slots (one box each, inside the image) and of {@code <image>}. */
    private int[] checkedText(PromptTurn turn, int width, int height) {
        boolean user = turn.role() == PromptTurn.Role.USER;
        int[] textIds = tok.encode(turn.modelText());
        int slots = 0;
        for (int id : textIds) if (id == sp.boxes()) slots++;
        if (slots != turn.slotBoxes().size()) {
            throw new InferenceException((user ? "The user" : "An earlier answer") + " text has " + slots
                    + " region slot(s) but " + turn.slotBoxes().size() + " box(es) were given.");
        }
        int k = 0;
        for (int id : textIds) {
            if (id == sp.image()) throw new InferenceException("Text may not contain the <image> token.");
            if (id == sp.boxes()) {
                PixelBox b = turn.slotBoxes().get(k++);
                BoxGeometry.requireInside(b, width, height, user ? "Region " + k : "Stored region");
            }
        }
        return textIds;
    }

    /** The prompt of the turns from {@code first} on (a user turn), each turn's ids checked already. */
    private Prompt layout(List<PromptTurn> turns, int[][] text, int first, int width, int height) {
        List<Integer> ids = new ArrayList<>();
        List<Integer> slotPos = new ArrayList<>();
        List<float[]> slotBoxes = new ArrayList<>();
        int imagePos = -1;
        for (int t = first; t < turns.size(); t++) {
            PromptTurn turn = turns.get(t);
            boolean user = turn.role() == PromptTurn.Role.USER;
            if (user) {
                ids.add(sp.user());
                if (imagePos < 0) {
                    imagePos = ids.size();
                    ids.add(sp.image());
                }
            }
            int k = 0;
            for (int id : text[t]) {
                if (id == sp.boxes()) {
                    slotPos.add(ids.size());
                    slotBoxes.add(BoxGeometry.toNormalized(turn.slotBoxes().get(k++), width, height));
                }
                ids.add(id);
            }
            ids.add(sp.end());
            if (user) ids.add(sp.assistant());
        }
        return new Prompt(ids.stream().mapToInt(Integer::intValue).toArray(), slotPos, slotBoxes, imagePos, first);
    }
}

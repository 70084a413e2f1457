package org.groundchat.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * When a conversation outgrows the context, older exchanges are dropped several at once, so the following turns'
 * prompts extend the one before (and are prefilled from the prompt cache) instead of each turn starting elsewhere.
 */
class PromptDroppingTest {
    @Test
    void aFullContextDropsABlockAndTheNextTurnsExtendTheSamePrompt() {
        BundleManifest m = BundleManifest.load(Path.of("models/default"));
        WordLevelTokenizer tokenizer = WordLevelTokenizer.load(m.file("tokenizer"));
        PromptBuilder builder = new PromptBuilder(tokenizer, m);
        List<PromptTurn> turns = new ArrayList<>();
        PromptBuilder.Prompt previous = null;
        int turnCount = 40, startsMoved = 0;
        for (int t = 0; t < turnCount; t++) {
            // each question differs from the last, so a prompt that lost an exchange starts differently
            String[] colors = {"red", "blue", "green", "yellow", "purple"};
            turns.add(PromptTurn.user("where is the large " + colors[t % 5] + " circle left of the small "
                    + colors[(t / 5) % 5] + " square ?", List.of()));
            PromptBuilder.Prompt p = builder.build(turns, 320, 240, GroundingEngine.ANSWER_RESERVE);
            int positions = p.ids().length - 1 + m.dims().imageTokens();
            assertTrue(positions + GroundingEngine.ANSWER_RESERVE <= m.dims().maxSeq(), "turn " + t + " fits");
            if (p.droppedTurns() > 0) { // the fewest drops that fit: the rule's previous start did not
                int before = previousStart(p.droppedTurns(), turns.size());
                int longer = p.ids().length; // the prompt from that start: these ids plus the turns in between
                for (PromptTurn between : turns.subList(before, p.droppedTurns())) {
                    longer += tokenizer.encode(between.modelText()).length + (between.role() == PromptTurn.Role.USER ? 3 : 1);
                }
                assertTrue(longer - 1 + m.dims().imageTokens() + GroundingEngine.ANSWER_RESERVE > m.dims().maxSeq(),
                        "turn " + t + ": kept from " + before + " it would have fit");
            }
            if (previous != null && !startsWith(p.ids(), previous.ids())) startsMoved++;
            previous = p;
            turns.add(PromptTurn.assistant("the large red circle is left of the small blue square .", List.of()));
        }
        // dropped one exchange at a time, every turn after the first drop would start elsewhere (34 of 40; now 12)
        assertTrue(startsMoved > 0, "the conversation outgrew the context");
        assertTrue(PromptBuilder.DROP_EXCHANGES >= 3, "several exchanges at once");
        assertTrue(startsMoved <= turnCount / 3 + 1,
                startsMoved + " of " + turnCount + " turns did not extend the previous prompt");
    }

    /** The start tried before {@code start} by the dropping rule (blocks of DROP_EXCHANGES, then one by one). */
    private static int previousStart(int start, int turns) {
        int first = 0, before = 0;
        while (first < start) {
            before = first;
            first += first + 2 * PromptBuilder.DROP_EXCHANGES < turns ? 2 * PromptBuilder.DROP_EXCHANGES : 2;
        }
        assertEquals(start, first, "a start the rule gives");
        return before;
    }

    private static boolean startsWith(int[] ids, int[] prefix) {
        if (prefix.length > ids.length) return false;
        for (int i = 0; i < prefix.length; i++) if (ids[i] != prefix[i]) return false;
        return true;
    }
}

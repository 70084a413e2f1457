package org.groundchat.inference;

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
        PromptBuilder builder = new PromptBuilder(WordLevelTokenizer.load(m.file("tokenizer")), m);
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

    private static boolean startsWith(int[] ids, int[] prefix) {
        if (prefix.length > ids.length) return false;
        for (int i = 0; i < prefix.length; i++) if (ids[i] != prefix[i]) return false;
        return true;
    }
}

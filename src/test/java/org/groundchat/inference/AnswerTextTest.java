package org.groundchat.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class AnswerTextTest {
    @Test
    void markupBecomesPhrasesAndLabels() {
        AnswerText t = new AnswerText();
        t.word("2");
        t.word(":");
        t.markup("<p>", true, false);
        t.word("a");
        t.word("red");
        t.word("star");
        t.markup("</p>", false, true);
        t.markup("<at>", false, false);
        AnswerText.Phrase p = t.takePhrase();
        assertEquals(" [3]", t.label("<boxes>", "[3]"));
        t.word(".");
        assertEquals("2: a red star [3].", t.display());
        assertEquals("a red star", p.text());
        assertEquals("a red star", t.display().substring(p.start(), p.end()));
        assertEquals("2 : <p> a red star </p> <at> <boxes> .", t.modelText());
    }

    @Test
    void aRegionWithoutPhraseGetsAnEmptySpanAtTheCurrentPosition() {
        AnswerText t = new AnswerText();
        t.word("yes");
        t.markup("<at>", false, false);
        AnswerText.Phrase p = t.takePhrase();
        assertEquals("", p.text());
        assertEquals(3, p.start());
    }
}

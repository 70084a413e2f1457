package org.groundchat.chat;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Jackson's messages as the catalogue met them, and what a person reads instead. */
class ReasonsTest {
    @Test
    void wrongTypesSayWhatWasExpectedAndWhatCame() {
        assertEquals("expected text, got a list", Reasons.fromParser(
                "Cannot deserialize value of type `java.lang.String` from Array value (token `JsonToken.START_ARRAY`)"));
        assertEquals("expected an object, got a list", Reasons.fromParser(
                "Cannot deserialize value of type `org.groundchat.chat.view.CreateConversation` from Array value "
                        + "(token `JsonToken.START_ARRAY`)"));
        assertEquals("expected a number, got text \"a\"", Reasons.fromParser(
                "Cannot deserialize value of type `java.lang.Double` from String \"a\": not a valid `Double` value"));
        assertEquals("expected a list, got text \"not a list\"", Reasons.fromParser(
                "Cannot deserialize value of type `java.util.List<java.util.List<java.lang.Double>>` from String "
                        + "\"not a list\": no String-argument constructor/factory method"));
    }

    @Test
    void parserLimitsKeepTheirNumbersButNotTheParsersNames() {
        assertEquals("Document nesting depth (1001) exceeds the maximum allowed (1000)", Reasons.fromParser(
                "Document nesting depth (1001) exceeds the maximum allowed (1000, from "
                        + "`StreamReadConstraints.getMaxNestingDepth()`)"));
    }
}

package org.groundchat.chat;


import java.util.UUID;

/** Parses ids from URLs and frames; an id that is not a UUID is simply unknown (404). */
public final class Ids {
    private Ids() {}

    public static UUID parse(String id, String what) {
        try {
            return UUID.fromString(id);
        } catch (IllegalArgumentException | NullPointerException e) {
            // the id is echoed so a person sees the typo, but never its control characters (NUL, escapes)
            String shown = id == null ? "" : id.replaceAll("\\p{Cntrl}", "?");
            throw ChatException.notFound("unknown_" + what, "No " + what + " with id '" + shown + "'.");
        }
    }
}

package org.groundchat.persistence;

/**
 * An answer's lifecycle, one name for each state in the database ({@code messages.status}, whose CHECK lists exactly
 * these), the REST and WebSocket views ({@code message.status}) and the UI. Before an answer starts it has no row:
 * a waiting turn is only an event ({@code queued}).
 */
public enum AnswerStatus {
    /** Being generated (or left so by a process that died: the sweep then ends it as failed). */
    STREAMING("streaming"),
    COMPLETE("complete"),
    /** Stopped by its user, or by nobody coming back for it; whatever text it had is kept. */
    CANCELLED("cancelled"),
    /** Ended by an error, stored with a reason. */
    FAILED("failed");

    private final String stored;

    AnswerStatus(String stored) { this.stored = stored; }

    /** The value in {@code messages.status} and in the JSON views. */
    public String stored() { return stored; }
}

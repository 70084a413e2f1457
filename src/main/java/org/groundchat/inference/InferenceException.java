package org.groundchat.inference;

/** A failure of the engine with a reason a user can read (bad bundle, unreadable image, ORT error). */
public class InferenceException extends RuntimeException {
    public InferenceException(String message) { super(message); }

    public InferenceException(String message, Throwable cause) { super(message, cause); }
}

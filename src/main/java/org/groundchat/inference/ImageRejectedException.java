package org.groundchat.inference;

/** An uploaded file that cannot be used as an image; the message says why in words a user understands. */
public class ImageRejectedException extends InferenceException {
    public ImageRejectedException(String message) { super(message); }

    public ImageRejectedException(String message, Throwable cause) { super(message, cause); }
}

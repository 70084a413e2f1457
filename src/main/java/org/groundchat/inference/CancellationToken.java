package org.groundchat.inference;

import java.util.concurrent.atomic.AtomicBoolean;

/** Set from any thread to stop a running generation at the next token. */
public final class CancellationToken {
    private final AtomicBoolean cancelled = new AtomicBoolean();

    public void cancel() { cancelled.set(true); }

    public boolean isCancelled() { return cancelled.get(); }
}

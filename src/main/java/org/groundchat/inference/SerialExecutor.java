package org.groundchat.inference;

import java.util.ArrayDeque;
import java.util.concurrent.Executor;

/**
 * Runs its tasks one at a time, in the order given, on a shared executor's threads (the pattern of
 * {@link Executor}'s documentation): one answer's events keep their order while answers run theirs in parallel.
 */
final class SerialExecutor implements Executor {
    private final ArrayDeque<Runnable> tasks = new ArrayDeque<>();
    private final Executor threads;
    private Runnable active;

    SerialExecutor(Executor threads) {
        this.threads = threads;
    }

    @Override
    public synchronized void execute(Runnable task) {
        tasks.add(() -> {
            try {
                task.run();
            } finally {
                scheduleNext();
            }
        });
        if (active == null) scheduleNext();
    }

    private synchronized void scheduleNext() {
        if ((active = tasks.poll()) != null) threads.execute(active);
    }
}

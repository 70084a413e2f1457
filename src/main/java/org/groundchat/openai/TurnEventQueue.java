package org.groundchat.openai;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.groundchat.chat.TurnSink;

/**
 * A turn's events, handed from the answer thread to the HTTP request's thread. Unbounded: an answer is at most
 * a few hundred small events, and the answer thread must never wait on a slow HTTP client.
 */
final class TurnEventQueue implements TurnSink {
    static final Set<String> FINAL = Set.of("done", "cancelled", "error");

    record Event(String type, Map<String, Object> payload) {
        boolean isFinal() { return FINAL.contains(type); }
    }

    private final BlockingQueue<Event> events = new LinkedBlockingQueue<>();

    @Override
    public void send(String type, String turnId, Map<String, Object> payload) {
        events.add(new Event(type, payload));
    }

    /** The next event, or null when none came within the wait. */
    Event next(long wait, TimeUnit unit) throws InterruptedException {
        return events.poll(wait, unit);
    }
}

package org.groundchat.inference;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.groundchat.inference.GenerationEvents.GenerationResult;

/**
 * Continuous batching: every answer running at the same time is decoded by one thread, one {@code decoder.onnx}
 * call per step for all of them ({@link BatchDecoder}), the heads batched per image ({@link HeadCalls}). Answers
 * join and leave between steps; more than {@code maxBatch} wait for a place.
 *
 * <p>No thread of its own: the callers blocked in {@link #run} take turns as the <i>driver</i>. The first caller
 * drives the batch (everyone's steps) until its own answer ends, then hands the batch to a caller still waiting.
 * So a lone answer runs entirely on its caller's thread, as before batching, with no hand-over between threads
 * (on a loaded machine each wake-up of another thread costs a scheduler slice). Listener callbacks after
 * {@code onEncoded} run on the driver's thread, which may be another caller's: they must not block, and must not
 * call {@code generate} (it would wait for itself).
 *
 * <p>Failures stay with their answer: an exception from one answer's routing or listener fails that answer only
 * (its caller gets the exception); a failing head call fails the answers of that image; only a failing decoder call
 * fails the whole step's batch. Cancellation is seen at the next step, also by answers waiting for a place.
 */
final class DecodeBatcher implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(DecodeBatcher.class.getName());

    /** An answer handed to the batch, with its prefilled cache and the caller's pending result. */
    private record Entry(AnswerSequence seq, KvCacheDecoder prefilled, CompletableFuture<GenerationResult> done) {}

    private final GroundingEngine engine;
    private final OnnxBundle onnx;
    private final BundleManifest.Dims dims;
    private final int maxBatch;
    // guarded by this: answers not admitted yet, whether a caller drives, the test pause, the engine closing
    private final ArrayDeque<Entry> waiting = new ArrayDeque<>();
    private boolean driving, paused, closed;
    // only the driver of the moment touches these (each hand-over goes through the lock)
    private final List<Entry> active = new ArrayList<>();
    private BatchDecoder batch;

    // what the driver saw, for tests and benchmarks: calls, rows decoded, the largest batch
    private final AtomicLong decoderCalls = new AtomicLong(), rowsDecoded = new AtomicLong(), maxRows = new AtomicLong();

    DecodeBatcher(GroundingEngine engine, OnnxBundle onnx, BundleManifest.Dims dims, int maxBatch) {
        this.engine = engine;
        this.onnx = onnx;
        this.dims = dims;
        this.maxBatch = maxBatch;
        this.batch = new BatchDecoder(onnx, dims, maxBatch);
    }

    /**
     * Decodes a prefilled answer together with the others running now; blocks until it ends (not interruptible,
     * like a batch-1 answer; an interrupt is kept for the caller).
     */
    GenerationResult run(AnswerSequence seq, KvCacheDecoder prefilled) {
        Entry me = new Entry(seq, prefilled, new CompletableFuture<>());
        boolean interrupted = false;
        synchronized (this) {
            if (closed) {
                prefilled.close();
                throw new InferenceException("The engine is closed.");
            }
            waiting.add(me);
            notifyAll(); // a paused driver counts waiters
        }
        try {
            while (!me.done.isDone()) {
                synchronized (this) {
                    while (driving && !me.done.isDone()) {
                        try {
                            wait();
                        } catch (InterruptedException e) {
                            interrupted = true;
                        }
                    }
                    if (me.done.isDone()) break;
                    driving = true;
                }
                try {
                    interrupted |= drive(me);
                } finally {
                    synchronized (this) {
                        driving = false;
                        notifyAll(); // the next waiting caller takes over the batch
                    }
                }
            }
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
        try {
            return me.done.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            if (e.getCause() instanceof Error err) throw err;
            throw e;
        }
    }

    long decoderCalls() { return decoderCalls.get(); }

    long rowsDecoded() { return rowsDecoded.get(); }

    /** The largest number of answers one decoder call has served. */
    long maxRows() { return maxRows.get(); }

    synchronized int waitingCount() { return waiting.size(); }

    /** Stops stepping after the current step until {@link #resume}; tests use it to choose when answers join. */
    synchronized void pause() { paused = true; }

    synchronized void resume() {
        paused = false;
        notifyAll();
    }

    /** Steps the batch until {@code me} has ended; returns whether the thread was interrupted meanwhile. */
    private boolean drive(Entry me) {
        boolean interrupted = false;
        while (!me.done.isDone()) {
            List<Entry> cancelled;
            synchronized (this) {
                while (paused && !closed) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        interrupted = true;
                    }
                }
                if (closed) {
                    failAll(new InferenceException("The engine was closed."));
                    break;
                }
                while (active.size() < maxBatch && !waiting.isEmpty()) {
                    Entry e = waiting.poll();
                    active.add(e);
                    batch.join(e.seq, e.prefilled);
                }
                cancelled = takeCancelledWaiters();
            }
            cancelled.forEach(DecodeBatcher::endCancelled);
            boolean ended = !cancelled.isEmpty();
            try {
                ended |= step();
            } catch (RuntimeException | Error e) { // the decoder call: the whole step's batch fails
                LOG.log(Level.WARNING, "batched decoder step failed for " + active.size() + " answers", e);
                for (Entry a : active) a.done.completeExceptionally(e);
                active.clear();
                batch.close();
                batch = new BatchDecoder(onnx, dims, maxBatch);
                ended = true;
            }
            if (ended) {
                synchronized (this) {
                    notifyAll(); // their callers wait on this lock: they return now, not when the driver does
                }
            }
        }
        return interrupted;
    }

    /** Ends every answer, running or waiting (guarded by {@code this}, no step in progress). */
    private void failAll(RuntimeException why) {
        for (Entry a : active) a.done.completeExceptionally(why);
        active.clear();
        batch.close();
        for (Entry e : waiting) {
            e.prefilled.close();
            e.done.completeExceptionally(why);
        }
        waiting.clear();
    }

    /** Answers still waiting for a place that were cancelled: they end without joining (guarded by {@code this}). */
    private List<Entry> takeCancelledWaiters() {
        List<Entry> out = new ArrayList<>(0);
        for (Iterator<Entry> it = waiting.iterator(); it.hasNext(); ) {
            Entry e = it.next();
            if (e.seq.cancelled()) {
                it.remove();
                out.add(e);
            }
        }
        return out;
    }

    /** Ends a cancelled waiter outside the lock (its listener gets onDone on the driver's thread). */
    private static void endCancelled(Entry e) {
        e.prefilled.close();
        try {
            e.seq.next(); // ends it as cancelled
            e.done.complete(e.seq.result());
        } catch (RuntimeException | Error t) {
            e.done.completeExceptionally(t);
        }
    }

    /**
     * One step: every active answer feeds one embedding; ended and failed answers leave the batch. Returns whether
     * any answer ended.
     */
    private boolean step() {
        int d = dims.hidden(), v = dims.vocab();
        List<Entry> rows = new ArrayList<>(active.size());
        List<float[]> inputs = new ArrayList<>(active.size());
        for (Entry e : active) {
            float[] in;
            try {
                in = e.seq.next();
            } catch (RuntimeException | Error t) {
                leave(e, batch, t);
                continue;
            }
            if (in == null) {
                leave(e, batch, null);
                continue;
            }
            inputs.add(in);
            rows.add(e);
        }
        boolean ended = active.retainAll(rows);
        if (rows.isEmpty()) return ended; // the ended answers left; nobody to decode
        if (!batch.keys().equals(rows.stream().map(Entry::seq).toList())) {
            throw new IllegalStateException("batch rows out of order"); // leave/join keep the order: a bug if not
        }
        float[] embeds = new float[rows.size() * d];
        for (int i = 0; i < rows.size(); i++) System.arraycopy(inputs.get(i), 0, embeds, i * d, d);
        BatchDecoder.Output out = batch.step(embeds);
        decoderCalls.incrementAndGet();
        rowsDecoded.addAndGet(rows.size());
        maxRows.accumulateAndGet(rows.size(), Math::max);
        List<AnswerSequence> seqs = rows.stream().map(Entry::seq).toList();
        List<HeadCalls.GroupFailure> failures = new ArrayList<>();
        AnswerSequence.HeadOutput[] heads = HeadCalls.run(engine, seqs, out.hidden(), d, failures);
        for (HeadCalls.GroupFailure f : failures) {
            for (int i : f.rows) leave(rows.get(i), batch, (RuntimeException) f.getCause());
        }
        for (int i = 0; i < rows.size(); i++) {
            Entry e = rows.get(i);
            if (heads[i] == null) continue; // failed above
            float[] logits = new float[v], hidden = new float[d];
            System.arraycopy(out.logits(), i * v, logits, 0, v);
            System.arraycopy(out.hidden(), i * d, hidden, 0, d);
            try {
                e.seq.accept(logits, hidden, heads[i]);
            } catch (RuntimeException | Error t) {
                leave(e, batch, t);
            }
        }
        return active.removeIf(e -> e.done.isDone()) || ended;
    }

    /** An answer leaves the batch: ended (failure null) or failed; its caller wakes up. */
    private static void leave(Entry e, BatchDecoder batch, Throwable failure) {
        batch.leave(e.seq);
        if (failure == null) {
            e.done.complete(e.seq.result());
        } else {
            e.done.completeExceptionally(failure);
        }
    }

    /** Ends the answers in flight (they fail: the engine is closing); returns once no caller is decoding. */
    @Override
    public void close() {
        boolean interrupted = false;
        synchronized (this) {
            closed = true;
            notifyAll();
            while (driving) { // the driver fails everything after its current step
                try {
                    wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            failAll(new InferenceException("The engine was closed."));
        }
        if (interrupted) Thread.currentThread().interrupt();
    }
}

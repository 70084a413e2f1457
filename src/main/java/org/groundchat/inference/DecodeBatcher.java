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
 * Continuous batching: one thread decodes every answer that is running at the same time, one {@code decoder.onnx}
 * call per step for all of them ({@link BatchDecoder}), the heads batched per image ({@link HeadCalls}). Answers
 * join and leave between steps. Callers block in {@link #run} as before; the prompt was prefilled on their own
 * thread. Listener callbacks of batched answers run on the batching thread, so a slow listener slows every answer
 * in the batch.
 *
 * <p>Failures stay with their answer: an exception from one answer's routing or listener fails that answer only
 * (its caller gets the exception); a failing head call fails the answers of that image; only a failing decoder call
 * fails the whole step's batch. Cancellation is seen at the next step, also by answers waiting for a place.
 */
final class DecodeBatcher implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(DecodeBatcher.class.getName());

    /** An answer handed to the batching thread, with its prefilled cache and the caller's pending result. */
    private record Entry(AnswerSequence seq, KvCacheDecoder prefilled, CompletableFuture<GenerationResult> done) {}

    private final GroundingEngine engine;
    private final OnnxBundle onnx;
    private final BundleManifest.Dims dims;
    private final int maxBatch;
    /** Guarded by {@code this}: handed over by callers, taken by the batching thread. */
    private final ArrayDeque<Entry> waiting = new ArrayDeque<>();
    private boolean paused, closed;
    private Thread thread;

    // what the batching thread saw, for tests and benchmarks: calls, rows decoded, the largest batch
    private final AtomicLong decoderCalls = new AtomicLong(), rowsDecoded = new AtomicLong(), maxRows = new AtomicLong();

    DecodeBatcher(GroundingEngine engine, OnnxBundle onnx, BundleManifest.Dims dims, int maxBatch) {
        this.engine = engine;
        this.onnx = onnx;
        this.dims = dims;
        this.maxBatch = maxBatch;
    }

    /** Decodes a prefilled answer together with the others running now; blocks until it ends. */
    GenerationResult run(AnswerSequence seq, KvCacheDecoder prefilled) {
        CompletableFuture<GenerationResult> done = new CompletableFuture<>();
        synchronized (this) {
            if (closed) {
                prefilled.close();
                throw new InferenceException("The engine is closed.");
            }
            waiting.add(new Entry(seq, prefilled, done));
            if (thread == null) {
                thread = new Thread(this::loop, "groundchat-decode-batch");
                thread.setDaemon(true);
                thread.start();
            }
            notifyAll();
        }
        try {
            return done.join();
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

    private void loop() {
        List<Entry> active = new ArrayList<>();
        List<Entry> cancelled;
        BatchDecoder batch = new BatchDecoder(onnx, dims);
        try {
            while (true) {
                synchronized (this) {
                    while (!closed && (paused || active.isEmpty() && waiting.isEmpty())) wait();
                    if (closed) break;
                    while (active.size() < maxBatch && !waiting.isEmpty()) {
                        Entry e = waiting.poll();
                        active.add(e);
                        batch.join(e.seq, e.prefilled);
                    }
                    cancelled = takeCancelledWaiters();
                }
                cancelled.forEach(DecodeBatcher::endCancelled);
                try {
                    step(active, batch);
                } catch (RuntimeException | Error e) { // the decoder call: the whole step's batch fails
                    LOG.log(Level.WARNING, "batched decoder step failed for " + active.size() + " answers", e);
                    for (Entry a : active) a.done.completeExceptionally(e);
                    active.clear();
                    batch.close();
                    batch = new BatchDecoder(onnx, dims);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            InferenceException closing = new InferenceException("The engine was closed.");
            for (Entry a : active) a.done.completeExceptionally(closing);
            batch.close();
            synchronized (this) {
                thread = null; // a later answer starts a new thread, unless the engine is closed
                for (Entry e : waiting) {
                    e.prefilled.close();
                    e.done.completeExceptionally(closing);
                }
                waiting.clear();
            }
        }
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

    /** Ends a cancelled waiter outside the lock (its listener gets onDone on this thread). */
    private static void endCancelled(Entry e) {
        e.prefilled.close();
        try {
            e.seq.next(); // ends it as cancelled
            e.done.complete(e.seq.result());
        } catch (RuntimeException | Error t) {
            e.done.completeExceptionally(t);
        }
    }

    /** One step: every active answer feeds one embedding; ended and failed answers leave the batch. */
    private void step(List<Entry> active, BatchDecoder batch) {
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
        active.retainAll(rows);
        if (rows.isEmpty()) return;
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
        active.removeIf(e -> e.done.isDone());
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

    @Override
    public void close() {
        Thread t;
        synchronized (this) {
            closed = true;
            notifyAll();
            t = thread;
        }
        if (t == null || t == Thread.currentThread()) return;
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}

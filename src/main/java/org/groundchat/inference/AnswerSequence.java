package org.groundchat.inference;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.groundchat.inference.GenerationEvents.FinishReason;
import org.groundchat.inference.GenerationEvents.GenerationResult;
import org.groundchat.inference.GenerationEvents.MaskEvent;
import org.groundchat.inference.GenerationEvents.RegionEvent;
import org.groundchat.inference.GenerationEvents.Timings;
import org.groundchat.inference.GenerationEvents.WordPointEvent;

/**
 * One answer as a step-wise state machine (pix2emb routing), in the manner of ONNX Runtime GenAI's Generator or a
 * llama.cpp server slot: whoever drives the decoder asks {@link #next()} for the one embedding to feed, runs the
 * decoder (alone or in a batch with other answers), runs the head this sequence {@link #needs()} on the output row,
 * and hands both back through {@link #accept}. The sequence never calls the decoder itself, so the same routing
 * serves the batch-1 loop ({@link AnswerLoop}) and the batched one ({@link DecodeBatcher}).
 * <ul>
 *   <li>a word: shown at once as a text delta; its hidden state (when fed) goes to the point head;</li>
 *   <li>{@code <at>}: its hidden state goes to the <b>box decoder</b>; the region is announced at once; the next
 *   input is the {@code <boxes>} slot whose embedding is the <b>box encoder</b>'s output for that box (it pools the
 *   image's feature map inside the box); the mask decoder runs on the box and that embedding;</li>
 *   <li>a stop token, the length limit or a cancellation ends the answer.</li>
 * </ul>
 * Points of phrase words are held until their region is known, then sent with its index. Not thread-safe: one
 * thread drives a sequence at a time.
 */
final class AnswerSequence {
    /** What the decoder output of the last fed input must go through before {@link #accept}. */
    enum Need { NONE, POINT, BOX }

    /** Head outputs for one row: a word's point, or the box at {@code <at>} with its slot embedding. */
    record HeadOutput(float[] point, float[] box, float[] slot, double ms) {
        static final HeadOutput NONE = new HeadOutput(null, null, null, 0);
    }

    private static final int PROMPT = -2, SLOT = -1;

    private final GroundingEngine engine;
    private final ImageFeatures f;
    private final GenerationRequest req;
    private final GenerationListener listener;
    private final BundleManifest m;
    private final BundleManifest.SpecialTokens sp;
    private final PromptBuilder.Prompt prompt;
    private final TokenSampler sampler;
    private final int maxNew;
    private final long t0;
    private final double encodeMs;

    private final AnswerText text = new AnswerText();
    private final List<RegionEvent> regions = new ArrayList<>();
    private final List<MaskEvent> masks = new ArrayList<>();
    private final List<WordPointEvent> points = new ArrayList<>();
    private final List<WordPointEvent> phrasePoints = new ArrayList<>();
    private boolean insidePhrase;
    private int words, generated, length, promptLength;
    /** What was fed last: a token id, {@link #SLOT} or {@link #PROMPT}. */
    private int fed = PROMPT;
    private float[] pendingLogits, pendingSlot;
    private GenerationResult result;
    private long decodeStart;
    private double prefillMs, boxMs, maskMs, pointMs, firstTokenMs = -1;

    AnswerSequence(GroundingEngine engine, ImageFeatures f, GenerationRequest req, GenerationListener listener,
                   PromptBuilder.Prompt prompt, int maxNew, long t0, double encodeMs) {
        this.engine = engine;
        this.f = f;
        this.req = req;
        this.listener = listener;
        this.m = engine.manifest();
        this.sp = m.specialTokens();
        this.prompt = prompt;
        this.sampler = new TokenSampler(req.options(), engine.banned());
        this.maxNew = maxNew;
        this.t0 = t0;
        this.encodeMs = encodeMs;
    }

    ImageFeatures image() { return f; }

    /** Positions in this sequence's KV cache: what the next fed embedding's position id is. */
    int length() { return length; }

    boolean finished() { return result != null; }

    /** Whether the caller asked to stop: {@link #next()} then ends the answer. */
    boolean cancelled() { return req.cancellation().isCancelled(); }

    /** The finished answer (null until {@link #next()} has returned null). */
    GenerationResult result() { return result; }

    /** Context positions of the prompt: its ids with the one {@code <image>} id expanded to the image rows. */
    int promptPositions() {
        return prompt.ids().length - 1 + m.dims().imageTokens();
    }

    /**
     * Token embeddings of the prompt from position {@code from} on (the positions before come from the prompt
     * cache), image rows at {@code <image>}, box-encoder embeddings (of the slot's box in this image's feature map)
     * at every slot: the user's drawn boxes and the re-fed boxes of earlier answers. The slots' boxes go through the
     * box encoder in one call: a prompt restarted after dropped exchanges re-feeds every kept answer's boxes.
     */
    float[] promptEmbeddings(int from) {
        int d = m.dims().hidden(), imageTokens = m.dims().imageTokens();
        int[] ids = prompt.ids();
        float[] out = new float[(promptPositions() - from) * d];
        int[] slotRows = new int[prompt.slotPositions().size()];
        float[] slotBoxes = new float[4 * slotRows.length];
        int slotsFed = 0;
        int row = 0;
        int slot = 0;
        for (int i = 0; i < ids.length; i++) {
            if (i == prompt.imagePosition()) {
                for (int r = 0; r < imageTokens; r++, row++) {
                    if (row >= from) System.arraycopy(f.imageEmbeds(), r * d, out, (row - from) * d, d);
                }
                continue;
            }
            boolean isSlot = slot < prompt.slotPositions().size() && prompt.slotPositions().get(slot) == i;
            float[] box = isSlot ? prompt.slotBoxes().get(slot++) : null;
            if (row >= from) {
                if (isSlot) {
                    slotRows[slotsFed] = row - from;
                    System.arraycopy(box, 0, slotBoxes, 4 * slotsFed++, 4);
                } else {
                    System.arraycopy(engine.tokenEmbedding(ids[i]), 0, out, (row - from) * d, d);
                }
            }
            row++;
        }
        if (slotsFed > 0) {
            float[] encoded = engine.boxEncode(Arrays.copyOf(slotBoxes, 4 * slotsFed), slotsFed, f);
            for (int k = 0; k < slotsFed; k++) System.arraycopy(encoded, k * d, out, slotRows[k] * d, d);
        }
        return out;
    }

    /**
     * One key per prompt position, for {@link PromptCache}: the token id, the image row (tagged; the cache compares
     * prompts about one image only), or a 61-bit hash of the bits of the slot's normalized box (tagged), so equal
     * keys mean equal decoder inputs (for slots, but for a hash collision).
     */
    long[] promptKeys() {
        int imageTokens = m.dims().imageTokens();
        int[] ids = prompt.ids();
        long[] keys = new long[promptPositions()];
        int row = 0, slot = 0;
        for (int i = 0; i < ids.length; i++) {
            if (i == prompt.imagePosition()) {
                for (int r = 0; r < imageTokens; r++) keys[row++] = IMAGE_ROW | r;
                continue;
            }
            if (slot < prompt.slotPositions().size() && prompt.slotPositions().get(slot) == i) {
                float[] b = prompt.slotBoxes().get(slot++);
                long bits = 17;
                for (float v : b) bits = bits * 1_000_003L + Float.floatToIntBits(v);
                keys[row++] = SLOT_BOX | (bits & ~TAGS);
            } else {
                keys[row++] = ids[i];
            }
        }
        return keys;
    }

    private static final long IMAGE_ROW = 1L << 62, SLOT_BOX = 1L << 61, TAGS = IMAGE_ROW | SLOT_BOX | Long.MIN_VALUE;

    /** The prompt went through the decoder: its last logits pick the first token at the next {@link #next()}. */
    void prefilled(int promptLength, float[] lastLogits, double prefillMs) {
        this.promptLength = promptLength;
        this.length = promptLength;
        this.pendingLogits = lastLogits;
        this.prefillMs = prefillMs;
        this.decodeStart = System.nanoTime();
    }

    /**
     * The embedding to feed next, or null when the answer has ended (stop token, length limit, cancellation);
     * then {@link #result()} holds the answer and the listener has had {@code onDone}.
     */
    float[] next() {
        if (result != null) return null;
        if (pendingSlot != null) {
            float[] slot = pendingSlot;
            pendingSlot = null;
            fed = SLOT;
            return slot;
        }
        if (req.cancellation().isCancelled()) return finish(FinishReason.CANCELLED);
        int token = sampler.pick(pendingLogits);
        pendingLogits = null;
        if (contains(m.generation().stop(), token)) return finish(FinishReason.STOP);
        if (generated >= maxNew || length + 2 > m.dims().maxSeq()) return finish(FinishReason.LENGTH);
        generated++;
        fed = token;
        return engine.tokenEmbedding(token);
    }

    /** The head the output row of the input just fed must go through. */
    Need needs() {
        if (fed == sp.at()) return Need.BOX;
        if (fed < 0 || fed == sp.pOpen() || fed == sp.pClose() || !req.options().points()) return Need.NONE;
        return Need.POINT;
    }

    /** The decoder output row of the input just fed ({@code logits} [V], {@code hidden} [D]) and its head's output. */
    void accept(float[] logits, float[] hidden, HeadOutput head) {
        length++;
        if (fed == sp.at()) {
            text.markup("<at>", false, false);
            pendingSlot = locate(head);
            generated++; // the slot counts as a generated token
            return;
        }
        if (fed == sp.pOpen() || fed == sp.pClose()) {
            insidePhrase = fed == sp.pOpen();
            text.markup(engine.tokenizer().token(fed), fed == sp.pOpen(), fed == sp.pClose());
        } else if (fed >= 0) {
            word(engine.tokenizer().token(fed), head);
        }
        pendingLogits = logits;
    }

    /** The box at {@code <at>}: announces the region and its mask; returns the slot embedding. */
    private float[] locate(HeadOutput head) {
        float[] box = head.box();
        boxMs += head.ms();
        int index = regions.size();
        AnswerText.Phrase phrase = text.takePhrase();
        String label = req.regionLabel().apply(index);
        PixelBox px = BoxGeometry.toPixels(box, f.width(), f.height());
        RegionEvent region = new RegionEvent(index, label, px, box, phrase.text(), phrase.start(), phrase.end(),
                text.length());
        regions.add(region);
        listener.onRegion(region);
        delta(text.label("<boxes>", label));
        flushPhrasePoints(index);
        if (req.options().masks()) {
            long tm = System.nanoTime();
            float[][] out = engine.mask(f, box, head.slot());
            MaskRle rle = MaskRenderer.render(out[0], m.dims().maskSize(), box, f.width(), f.height(),
                    m.mask().cropExpand(), m.mask().threshold());
            MaskEvent me = new MaskEvent(index, rle, out[1][0]);
            maskMs += GroundingEngine.ms(tm);
            masks.add(me);
            listener.onMask(me);
        }
        return head.slot();
    }

    private void word(String token, HeadOutput head) {
        AnswerText.Word w = text.word(token);
        delta(w.delta());
        int index = words++;
        if (head.point() == null) return;
        pointMs += head.ms();
        double[] px = BoxGeometry.pointToPixels(head.point()[0], head.point()[1], f.width(), f.height());
        WordPointEvent e = new WordPointEvent(index, token, w.start(), w.end(), px[0], px[1], -1);
        if (insidePhrase) {
            phrasePoints.add(e);
        } else {
            points.add(e);
            listener.onWordPoint(e);
        }
    }

    private void flushPhrasePoints(int region) {
        for (WordPointEvent e : phrasePoints) {
            WordPointEvent withRegion = new WordPointEvent(e.wordIndex(), e.word(), e.start(), e.end(), e.x(), e.y(), region);
            points.add(withRegion);
            listener.onWordPoint(withRegion);
        }
        phrasePoints.clear();
    }

    private void delta(String s) {
        if (firstTokenMs < 0) firstTokenMs = GroundingEngine.ms(t0);
        listener.onTextDelta(s);
    }

    private float[] finish(FinishReason finish) {
        flushPhrasePoints(-1);
        double total = GroundingEngine.ms(t0);
        Timings timings = new Timings(encodeMs, prefillMs, firstTokenMs < 0 ? total : firstTokenMs,
                GroundingEngine.ms(decodeStart), boxMs, maskMs, pointMs, total);
        result = new GenerationResult(text.display(), text.modelText(), List.copyOf(regions), List.copyOf(masks),
                List.copyOf(points), timings, promptLength, generated, finish);
        listener.onDone(result);
        return null;
    }

    private static boolean contains(int[] a, int v) {
        for (int x : a) if (x == v) return true;
        return false;
    }
}

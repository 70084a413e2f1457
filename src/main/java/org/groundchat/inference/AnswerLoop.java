package org.groundchat.inference;

import java.util.ArrayList;
import java.util.List;
import org.groundchat.inference.GenerationEvents.FinishReason;
import org.groundchat.inference.GenerationEvents.GenerationResult;
import org.groundchat.inference.GenerationEvents.MaskEvent;
import org.groundchat.inference.GenerationEvents.RegionEvent;
import org.groundchat.inference.GenerationEvents.Timings;
import org.groundchat.inference.GenerationEvents.WordPointEvent;

/**
 * One answer's decode loop (pix2emb routing). Per step it feeds one input embedding and picks the next token:
 * <ul>
 *   <li>a word: shown at once as a text delta; its hidden state (when fed) goes to the point head;</li>
 *   <li>{@code <at>}: its hidden state goes to the <b>box decoder</b>; the region is announced at once; the next
 *   input is the {@code <boxes>} slot whose embedding is the <b>box encoder</b>'s output for that box (it pools the
 *   image's feature map inside the box); the mask
 *   decoder runs on the box and that embedding;</li>
 *   <li>a stop token, the length limit or a cancellation ends the answer.</li>
 * </ul>
 * Points of phrase words are held until their region is known, then sent with its index.
 */
final class AnswerLoop {
    private final GroundingEngine engine;
    private final ImageFeatures f;
    private final GenerationRequest req;
    private final GenerationListener listener;
    private final BundleManifest m;
    private final BundleManifest.SpecialTokens sp;
    private final int maxNew;
    private final long t0;
    private final double encodeMs;

    private final AnswerText text = new AnswerText();
    private final List<RegionEvent> regions = new ArrayList<>();
    private final List<MaskEvent> masks = new ArrayList<>();
    private final List<WordPointEvent> points = new ArrayList<>();
    private final List<WordPointEvent> phrasePoints = new ArrayList<>();
    private boolean insidePhrase;
    private int words;
    private double boxMs, maskMs, pointMs, firstTokenMs = -1;

    AnswerLoop(GroundingEngine engine, ImageFeatures f, GenerationRequest req, GenerationListener listener, int maxNew,
               long t0, double encodeMs) {
        this.engine = engine;
        this.f = f;
        this.req = req;
        this.listener = listener;
        this.m = engine.manifest();
        this.sp = m.specialTokens();
        this.maxNew = maxNew;
        this.t0 = t0;
        this.encodeMs = encodeMs;
    }

    GenerationResult run(PromptBuilder.Prompt p) {
        int d = m.dims().hidden();
        int imageTokens = m.dims().imageTokens();
        long prefillStart = System.nanoTime();
        float[] embeds = promptEmbeddings(p, d, imageTokens);
        int promptLength = embeds.length / d;
        TokenSampler sampler = new TokenSampler(req.options(), engine.banned());
        int[] stop = m.generation().stop();
        int generated = 0;
        FinishReason finish = FinishReason.LENGTH;
        double prefillMs;
        try (KvCacheDecoder decoder = engine.newDecoder()) {
            KvCacheDecoder.Step step = decoder.feed(embeds, promptLength);
            prefillMs = GroundingEngine.ms(prefillStart);
            long decodeStart = System.nanoTime();
            while (true) {
                if (req.cancellation().isCancelled()) {
                    finish = FinishReason.CANCELLED;
                    break;
                }
                int next = sampler.pick(step.lastLogits());
                if (contains(stop, next)) {
                    finish = FinishReason.STOP;
                    break;
                }
                if (generated >= maxNew || decoder.length() + 2 > m.dims().maxSeq()) break;
                generated++;
                step = decoder.feed(engine.tokenEmbedding(next), 1);
                if (next == sp.at()) {
                    text.markup("<at>", false, false);
                    float[] slot = locate(step.lastHidden(d));
                    generated++;
                    step = decoder.feed(slot, 1);
                } else if (next == sp.pOpen() || next == sp.pClose()) {
                    insidePhrase = next == sp.pOpen();
                    text.markup(engine.tokenizer().token(next), next == sp.pOpen(), next == sp.pClose());
                } else {
                    word(engine.tokenizer().token(next), step.lastHidden(d));
                }
            }
            flushPhrasePoints(-1);
            double total = GroundingEngine.ms(t0);
            Timings timings = new Timings(encodeMs, prefillMs, firstTokenMs < 0 ? total : firstTokenMs,
                    GroundingEngine.ms(decodeStart), boxMs, maskMs, pointMs, total);
            GenerationResult result = new GenerationResult(text.display(), text.modelText(), List.copyOf(regions),
                    List.copyOf(masks), List.copyOf(points), timings, promptLength, generated, finish);
            listener.onDone(result);
            return result;
        }
    }

    /**
     * Token embeddings of the prompt, image rows at {@code <image>}, box-encoder embeddings (of the slot's box in
     * this image's feature map) at every slot: the user's drawn boxes and the re-fed boxes of earlier answers.
     */
    private float[] promptEmbeddings(PromptBuilder.Prompt p, int d, int imageTokens) {
        int[] ids = p.ids();
        float[] out = new float[(ids.length - 1 + imageTokens) * d];
        int row = 0;
        int slot = 0;
        for (int i = 0; i < ids.length; i++) {
            if (i == p.imagePosition()) {
                System.arraycopy(f.imageEmbeds(), 0, out, row * d, imageTokens * d);
                row += imageTokens;
                continue;
            }
            float[] e = slot < p.slotPositions().size() && p.slotPositions().get(slot) == i
                    ? engine.boxEncode(p.slotBoxes().get(slot++), f) : engine.tokenEmbedding(ids[i]);
            System.arraycopy(e, 0, out, row * d, d);
            row++;
        }
        return out;
    }

    /** Hidden state at {@code <at>} -> box; announces the region and its mask; returns the slot embedding. */
    private float[] locate(float[] atHidden) {
        long t = System.nanoTime();
        float[] box = engine.boxDecode(atHidden, f);
        float[] slot = engine.boxEncode(box, f);
        boxMs += GroundingEngine.ms(t);
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
            float[][] out = engine.mask(f, box, slot);
            MaskRle rle = MaskRenderer.render(out[0], m.dims().maskSize(), box, f.width(), f.height(),
                    m.mask().cropExpand(), m.mask().threshold());
            MaskEvent me = new MaskEvent(index, rle, out[1][0]);
            maskMs += GroundingEngine.ms(tm);
            masks.add(me);
            listener.onMask(me);
        }
        return slot;
    }

    private void word(String token, float[] hiddenState) {
        AnswerText.Word w = text.word(token);
        delta(w.delta());
        int index = words++;
        if (!req.options().points()) return;
        long t = System.nanoTime();
        float[] pt = engine.point(hiddenState, f);
        pointMs += GroundingEngine.ms(t);
        double[] px = BoxGeometry.pointToPixels(pt[0], pt[1], f.width(), f.height());
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

    private static boolean contains(int[] a, int v) {
        for (int x : a) if (x == v) return true;
        return false;
    }
}

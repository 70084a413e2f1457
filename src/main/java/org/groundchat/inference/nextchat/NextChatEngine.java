package org.groundchat.inference.nextchat;

import ai.onnxruntime.OrtException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import com.fasterxml.jackson.databind.JsonNode;
import org.groundchat.inference.CancellationToken;
import org.groundchat.inference.ChatEngine;
import org.groundchat.inference.DenseCaption;
import org.groundchat.inference.PromptTurn;
import org.groundchat.inference.BpeTokenizer;
import org.groundchat.inference.DecodedImage;
import org.groundchat.inference.EngineOptions;
import org.groundchat.inference.GenerationEvents.FinishReason;
import org.groundchat.inference.GenerationEvents.GenerationResult;
import org.groundchat.inference.GenerationEvents.MaskEvent;
import org.groundchat.inference.GenerationEvents.RegionEvent;
import org.groundchat.inference.GenerationEvents.Timings;
import org.groundchat.inference.GenerationListener;
import org.groundchat.inference.GenerationRequest;
import org.groundchat.inference.ImageDecoder;
import org.groundchat.inference.ImageRejectedException;
import org.groundchat.inference.InferenceException;
import org.groundchat.inference.MaskRle;
import org.groundchat.inference.PixelBox;

/**
 * Serves a contract-3 bundle (an imported NExT-Chat pix2emb checkpoint, models/import/) with the same request,
 * listener and event types as {@code GroundingEngine}. It follows models/import/reference.py step by step: CLIP and
 * SAM inputs from the centred square with Pillow's resize, the LLaVA v1 prompt with the image embeddings in the
 * {@code <im_patch>} rows and box_encoder(box) in the {@code <boxes>} rows, generation that stops on the bundle's
 * stop ids, skips its banned ids, and after {@code <at>} decodes a box from the hidden state, a mask from SAM's
 * embeddings, and forces {@code <boxes>} with the box's embedding as input.
 *
 * <p>Thread-safe: each answer has its own decoder state; ORT sessions allow concurrent runs.
 */
public final class NextChatEngine implements ChatEngine {
    private final NextChatManifest manifest;
    private final BpeTokenizer tokenizer;
    private final NextChatSessions sessions;
    private final EngineOptions options;
    private final AtomicLong imageEncodes = new AtomicLong();

    private NextChatEngine(NextChatManifest manifest, EngineOptions options) {
        this.manifest = manifest;
        this.options = options;
        Path tok = manifest.file("tokenizer");
        if (tok == null) throw new InferenceException("Model bundle lacks tokenizer.json");
        this.tokenizer = BpeTokenizer.load(tok);
        this.sessions = new NextChatSessions(manifest, options);
    }

    @Override
    public JsonNode bundle() { return manifest.raw(); }

    /** NExT-Chat proposes no regions of its own (the bundle has no proposal head). */
    @Override
    public boolean hasDenseCaptions() { return false; }

    @Override
    public List<DenseCaption> denseCaptions(byte[] image, int max, CancellationToken cancellation) {
        throw new InferenceException("This model has no dense captions (it proposes no regions of its own).");
    }

    @Override
    public long imageEncodes() { return imageEncodes.get(); }

    /** No feature cache yet: every answer encodes its image. */
    @Override
    public long featureCacheHits() { return 0; }

    /** The user's text alone, laid out in the prompt template with the image, leaves room for a short answer. */
    @Override
    public boolean fitsAlone(String userModelText) {
        int slots = userModelText.split("<boxes>", -1).length - 1;
        List<PixelBox> boxes = java.util.Collections.nCopies(slots, new PixelBox(0, 0, 1, 1));
        try {
            long[] ids = NextChatPrompt.build(List.of(PromptTurn.user(userModelText, boxes)), manifest, tokenizer,
                    SquareFrame.of(2, 2)).ids();
            return ids.length + Math.min(manifest.maxNewTokens(), ANSWER_ROOM) <= manifest.maxSeq();
        } catch (InferenceException e) {
            return false;
        }
    }

    /** Context positions a message must leave free for the answer to be accepted. */
    private static final int ANSWER_ROOM = 64;

    /** Opens the bundle in {@code options.bundleDir()}; throws InferenceException unless it is contract 3. */
    public static NextChatEngine open(EngineOptions options) {
        return new NextChatEngine(NextChatManifest.read(options.bundleDir()), options);
    }

    /** True when the bundle.json in dir says contract major version 3 (what this engine serves). */
    public static boolean accepts(Path dir) {
        try {
            var b = new com.fasterxml.jackson.databind.ObjectMapper().readTree(dir.resolve("bundle.json").toFile());
            return NextChatManifest.majorVersion(b.path("version").asText("")) == 3;
        } catch (java.io.IOException e) {
            return false;
        }
    }

    public String modelName() { return manifest.name(); }

    public boolean hasMasks() { return sessions.maskEncoder != null; }

    @Override
    public boolean usesCuda() { return sessions.cuda; }

    public BpeTokenizer tokenizer() { return tokenizer; }

    NextChatManifest manifest() { return manifest; }

    NextChatSessions sessions() { return sessions; }

    /** The centred square of an image (interleaved RGB) and its frame; both image tensors are made from it. */
    record Square(SquareFrame frame, int[] rgb) {
        static Square of(DecodedImage img) {
            SquareFrame f = SquareFrame.of(img.width(), img.height());
            return new Square(f, NextChatPixels.square(img.image(), f));
        }

        /** A model input [1,3,size,size] by the recipe (CLIP's pixel_values or SAM's mask_pixel_values). */
        float[] tensor(NextChatPixels.Recipe r) {
            return NextChatPixels.normalize(NextChatPixels.resized(rgb, frame.side(), r), r);
        }
    }

    @Override
    public GenerationResult generate(GenerationRequest req, GenerationListener listener) {
        return trace(req, listener).result();
    }

    /** An answer with its generated ids (forced {@code <boxes>} included), which the result does not carry. */
    record Traced(GenerationResult result, List<Integer> tokens) {}

    Traced trace(GenerationRequest req, GenerationListener listener) {
        try {
            return new Answer(req, listener == null ? GenerationListener.NONE : listener).run();
        } catch (OrtException e) {
            throw new InferenceException("ONNX Runtime failed: " + e.getMessage(), e);
        }
    }

    /** One answer: its state and the generation loop. */
    private final class Answer {
        private final GenerationRequest req;
        private final GenerationListener listener;
        private final long start = System.nanoTime();
        private double encodeMs, prefillMs, firstTokenMs, boxMs, maskMs;
        private float[] samEmbeddings; // SAM's image embeddings, made at the first region only

        Answer(GenerationRequest req, GenerationListener listener) {
            this.req = req;
            this.listener = listener;
        }

        Traced run() throws OrtException {
            byte[] bytes = req.image() != null ? req.image() : req.stored() != null ? req.stored().bytes().get() : null;
            if (bytes == null) throw new ImageRejectedException("An image is required.");
            if (bytes.length > options.maxImageBytes()) {
                throw new ImageRejectedException("The image is too large: " + bytes.length
                        + " bytes, the limit is " + options.maxImageBytes() + " bytes.");
            }
            DecodedImage img = ImageDecoder.decode(bytes, options.maxImagePixels());
            imageEncodes.incrementAndGet();
            Square px = Square.of(img);
            SquareFrame frame = px.frame();
            // the prompt first: a conversation the model cannot take is refused before the image is encoded
            int limit = req.options().maxNewTokens() > 0 ? req.options().maxNewTokens() : manifest.maxNewTokens();
            NextChatPrompt prompt = NextChatPrompt.fitting(req.turns(), manifest, tokenizer, frame,
                    Math.min(limit, ANSWER_ROOM));
            long[] ids = prompt.ids();
            int s = manifest.image().size();
            float[] imageEmbeds = sessions.run(sessions.vision,
                    Map.of("pixel_values", sessions.floats(px.tensor(manifest.image()), 1, 3, s, s)))[0];
            encodeMs = ms(start);
            listener.onEncoded(encodeMs);
            float[] emb = promptEmbeddings(ids, imageEmbeds, prompt.slots());

            List<Integer> tokens = new ArrayList<>();
            List<RegionEvent> regions = new ArrayList<>();
            List<MaskEvent> masks = new ArrayList<>();
            NextChatText text = new NextChatText(tokenizer, manifest.at(), manifest.boxes());
            NextChatSampler sampler = new NextChatSampler(req.options(), manifest.banned());
            FinishReason finish = FinishReason.LENGTH;
            long prefillStart = System.nanoTime();
            try (NextChatDecoder dec = new NextChatDecoder(sessions, manifest)) {
                dec.feed(emb);
                prefillMs = ms(prefillStart);
                while (tokens.size() < limit) {
                    if (req.cancellation().isCancelled()) {
                        finish = FinishReason.CANCELLED;
                        break;
                    }
                    if (dec.position() >= manifest.maxSeq()) break; // the model's context is full: LENGTH
                    int t = sampler.pick(dec.logits());
                    if (tokens.isEmpty()) firstTokenMs = ms(start);
                    if (manifest.stop().contains(t)) {
                        finish = FinishReason.STOP;
                        break;
                    }
                    tokens.add(t);
                    dec.feed(sessions.embed(new long[] {t}));
                    if (t != manifest.at()) {
                        emit(text.word(t));
                        continue;
                    }
                    emit(text.at(t));
                    float[] box = region(dec.hidden(), frame, text, tokens.size() - 1, regions, masks, px);
                    String label = regions.get(regions.size() - 1).label();
                    if (tokens.size() >= limit || dec.position() >= manifest.maxSeq()) {
                        emit(text.closeSlot(label));
                        break;
                    }
                    tokens.add(manifest.boxes()); // forced; its input embedding is the box's
                    emit(text.boxes(manifest.boxes(), label));
                    dec.feed(sessions.encodeBoxes(box));
                }
            }
            emit(text.finish());
            double total = ms(start);
            double decodeMs = Math.max(0, total - encodeMs - prefillMs - boxMs - maskMs);
            GenerationResult result = new GenerationResult(text.display(), text.model(), regions, masks, List.of(),
                    new Timings(encodeMs, prefillMs, firstTokenMs, decodeMs, boxMs, maskMs, 0, total), ids.length,
                    tokens.size(), finish);
            listener.onDone(result);
            return new Traced(result, tokens);
        }

        /** Token embeddings of the prompt with the image rows and the user's box slots replaced. */
        private float[] promptEmbeddings(long[] ids, float[] imageEmbeds, float[] slots) throws OrtException {
            int d = manifest.hidden();
            float[] emb = sessions.embed(ids);
            float[] slotEmb = slots.length == 0 ? new float[0] : sessions.encodeBoxes(slots);
            int patch = 0, slot = 0;
            for (int i = 0; i < ids.length; i++) {
                if (ids[i] == manifest.imagePatch()) {
                    // an <im_patch> beyond the image's rows (typed by a user): counted, and refused below
                    if (patch == manifest.imageTokens()) {
                        patch++;
                        break;
                    }
                    System.arraycopy(imageEmbeds, (patch++) * d, emb, i * d, d);
                } else if (ids[i] == manifest.boxes()) {
                    System.arraycopy(slotEmb, (slot++) * d, emb, i * d, d);
                }
            }
            if (patch != manifest.imageTokens()) {
                throw new InferenceException("The prompt has " + patch + " image rows, the model gives "
                        + manifest.imageTokens());
            }
            return emb;
        }

        /** The region at an {@code <at>}: box_decoder on its hidden state, then the mask; returns the raw box. */
        private float[] region(float[] hidden, SquareFrame frame, NextChatText text, int tokenIndex,
                               List<RegionEvent> regions, List<MaskEvent> masks, Square px) throws OrtException {
            int d = manifest.hidden();
            long t0 = System.nanoTime();
            float[] box = sessions.run(sessions.boxDecoder, Map.of("hidden_state", sessions.floats(hidden, 1, d)))[0];
            boxMs += ms(t0);
            int index = regions.size();
            NextChatText.Phrase phrase = text.phrase();
            PixelBox pixels = frame.toPixels(box);
            RegionEvent r = new RegionEvent(index, req.regionLabel().apply(index), pixels, box.clone(),
                    phrase.text(), phrase.start(), phrase.end(), tokenIndex);
            regions.add(r);
            listener.onRegion(r);
            if (req.options().masks() && hasMasks()) {
                long m0 = System.nanoTime();
                Map<String, float[]> out = sessions.runNamed(sessions.maskDecoder, Map.of(
                        "image_embeddings", sessions.floats(samEmbeddings(px), 1, manifest.maskChannels(),
                                manifest.maskGrid(), manifest.maskGrid()),
                        "box", sessions.floats(box, 1, 4),
                        "hidden_state", sessions.floats(hidden, 1, d)));
                MaskRle rle = NextChatMask.render(out.get("mask_logits"), manifest.maskSize(), frame, 0.0);
                MaskEvent me = new MaskEvent(index, rle, out.get("mask_score")[0]);
                masks.add(me);
                maskMs += ms(m0);
                listener.onMask(me);
            }
            return box;
        }

        private float[] samEmbeddings(Square px) throws OrtException {
            if (samEmbeddings == null) {
                int ms = manifest.maskImage().size();
                samEmbeddings = sessions.run(sessions.maskEncoder,
                        Map.of("mask_pixel_values", sessions.floats(px.tensor(manifest.maskImage()), 1, 3, ms, ms)))[0];
            }
            return samEmbeddings;
        }

        private void emit(String delta) {
            if (!delta.isEmpty()) listener.onTextDelta(delta);
        }
    }

    private static double ms(long since) { return (System.nanoTime() - since) / 1e6; }

    @Override
    public void close() { sessions.close(); }
}

package org.groundchat.inference;

import java.nio.FloatBuffer;

/**
 * One image's vision-encoder output, computed once per image (like SAM's set_image) and cached by content hash.
 *
 * @param imageEmbeds  [T, D] rows spliced into the prompt at {@code <image>}
 * @param inputs       the head models' image inputs, held only as the direct buffers the heads read (see
 *                     {@link ModelInputs}): featureMap [C, H, W] spatial features for the mask decoder, the proposal
 *                     head and the box encoder (which pools them inside the box); boxKeys [G, 2D] the 16x16 location
 *                     grid projected to the box decoder's keys and values (once per image, so each {@code <at>} costs
 *                     one small attention); pointKeys [G, 2D] the same for the point head (called once per word)
 */
record ImageFeatures(String sha256, int width, int height, float[] imageEmbeds, double encodeMs, ModelInputs inputs) {

    ImageFeatures(String sha256, int width, int height, float[] imageEmbeds, float[] featureMap, float[] boxKeys,
                  float[] pointKeys, double encodeMs) {
        this(sha256, width, height, imageEmbeds, encodeMs, new ModelInputs(featureMap, boxKeys, pointKeys));
    }

    /** A copy of the feature map (parity checks; the heads read {@link #inputs}). */
    float[] featureMap() { return copy(inputs.featureMap); }

    /** A copy of the box decoder's keys (parity checks). */
    float[] boxKeys() { return copy(inputs.boxKeys); }

    /** A copy of the point head's keys (parity checks). */
    float[] pointKeys() { return copy(inputs.pointKeys); }

    private static float[] copy(FloatBuffer b) {
        float[] out = new float[b.capacity()];
        b.duplicate().clear().get(out);
        return out;
    }

    /**
     * The head models' image inputs, copied once into direct buffers that ONNX Runtime reads in place. As arrays they
     * were copied into a fresh direct buffer at every call: the point head runs for each word and the mask decoder for
     * each region, and the location keys alone are ~400 KB. Read-only once made, so calls may share them; each call
     * takes a {@link FloatBuffer#duplicate()} (its own position). Not kept as arrays too: that was ~1 MB more per
     * cached image.
     */
    static final class ModelInputs {
        final FloatBuffer featureMap, boxKeys, pointKeys;

        ModelInputs(float[] featureMap, float[] boxKeys, float[] pointKeys) {
            this.featureMap = DirectFloats.copyOf(featureMap);
            this.boxKeys = boxKeys == featureMap ? this.featureMap : DirectFloats.copyOf(boxKeys);
            this.pointKeys = pointKeys == boxKeys ? this.boxKeys : DirectFloats.copyOf(pointKeys);
        }
    }
}

package org.groundchat.inference;

/**
 * One image's vision-encoder output, computed once per image (like SAM's set_image) and cached by content hash.
 *
 * @param imageEmbeds  [T, D] rows spliced into the prompt at {@code <image>}
 * @param featureMap   [C, H, W] spatial features for the mask decoder, the proposal head and the box encoder
 *                     (which pools them inside the box)
 * @param locationKeys [G, D] what the box decoder and the point head attend
 */
record ImageFeatures(String sha256, int width, int height, float[] imageEmbeds, float[] featureMap, float[] locationKeys,
                     double encodeMs) {}

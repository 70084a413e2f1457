package org.groundchat.inference;

/**
 * One image's vision-encoder output, computed once per image (like SAM's set_image) and cached by content hash.
 *
 * @param imageEmbeds  [T, D] rows spliced into the prompt at {@code <image>}
 * @param featureMap   [C, H, W] spatial features for the mask decoder, the proposal head and the box encoder
 *                     (which pools them inside the box)
 * @param boxKeys      [G, 2D] the 16x16 location grid projected to the box decoder's keys and values (once per image,
 *                     so each {@code <at>} costs one small attention)
 * @param pointKeys    [G, 2D] the same for the point head (called once per word)
 */
record ImageFeatures(String sha256, int width, int height, float[] imageEmbeds, float[] featureMap, float[] boxKeys, float[] pointKeys,
                     double encodeMs) {}

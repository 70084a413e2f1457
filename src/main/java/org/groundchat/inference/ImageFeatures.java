package org.groundchat.inference;

/**
 * One image's vision-encoder output, computed once per image (like SAM's set_image) and cached by content hash.
 *
 * @param imageEmbeds [T, D] rows spliced into the prompt at {@code <image>}
 * @param featureMap  [C, H, W] spatial features for the mask decoder and the proposal head
 */
record ImageFeatures(String sha256, int width, int height, float[] imageEmbeds, float[] featureMap, double encodeMs) {}

package org.groundchat.inference;

/** One proposal of the dense-captioning path: a proposed box, its objectness score and its region caption. */
public record DenseCaption(PixelBox box, float score, String caption) {}

package org.groundchat.chat;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/** Upload limits, read once: the REST upload checks them and the engine enforces the same values on every image. */
@ConfigMapping(prefix = "groundchat.image")
public interface ImageLimits {
    /** Largest accepted file (default 20 MiB). */
    @WithDefault("20971520")
    long maxBytes();

    /** Largest accepted width*height (default 40 megapixels). */
    @WithDefault("40000000")
    long maxPixels();
}

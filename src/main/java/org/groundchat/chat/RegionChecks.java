package org.groundchat.chat;

import org.groundchat.inference.PixelBox;

/** Validates a drawn region against its image, with a reason a person can act on. */
final class RegionChecks {
    private RegionChecks() {}

    static void requireInside(PixelBox b, int width, int height, int k) {
        for (double v : b.toArray()) {
            if (!Double.isFinite(v)) throw ChatException.badRequest("invalid_region", "Region #" + k + " has a coordinate that is not a number.");
        }
        if (b.x2() <= b.x1() || b.y2() <= b.y1()) {
            throw ChatException.badRequest("invalid_region", "Region #" + k + " must have x2 > x1 and y2 > y1.");
        }
        if (b.x1() < 0 || b.y1() < 0 || b.x2() > width || b.y2() > height) {
            throw ChatException.badRequest("invalid_region", "Region #" + k + " lies outside the " + width + "x" + height + " image.");
        }
    }
}

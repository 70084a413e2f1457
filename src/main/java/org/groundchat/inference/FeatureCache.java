package org.groundchat.inference;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

/** A bounded LRU cache of encoded images keyed by the SHA-256 of the image bytes. */
final class FeatureCache {
    private final int capacity;
    private final Map<String, ImageFeatures> map;
    // read by the service's metrics: the engine itself stays free of any metrics library (the CLI uses it too)
    private final LongAdder hits = new LongAdder();
    private final LongAdder encodes = new LongAdder();

    FeatureCache(int capacity) {
        this.capacity = capacity;
        this.map = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, ImageFeatures> eldest) {
                return size() > FeatureCache.this.capacity;
            }
        };
    }

    /** The cached features, or computes and stores them (outside the lock: encoding takes milliseconds). */
    ImageFeatures get(String sha256, Supplier<ImageFeatures> compute) {
        synchronized (map) {
            ImageFeatures f = map.get(sha256);
            if (f != null) {
                hits.increment();
                return f;
            }
        }
        ImageFeatures f = compute.get();
        encodes.increment();
        if (capacity > 0) {
            synchronized (map) {
                map.put(sha256, f);
            }
        }
        return f;
    }

    /** Counts a hit like {@link #get}; a miss is counted by the {@code get} that follows it. */
    ImageFeatures peek(String sha256) {
        synchronized (map) {
            ImageFeatures f = map.get(sha256);
            if (f != null) hits.increment();
            return f;
        }
    }

    long hits() { return hits.sum(); }

    long encodes() { return encodes.sum(); }

    int size() {
        synchronized (map) {
            return map.size();
        }
    }
}

package org.groundchat.chat;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.groundchat.inference.GenerationEvents.RegionEvent;
import org.groundchat.inference.GenerationEvents.Timings;
import org.groundchat.inference.GenerationEvents.WordPointEvent;
import org.groundchat.inference.MaskRle;

/** JSON shapes of streamed events (the same shapes the REST views use for stored regions). */
final class EventJson {
    private EventJson() {}

    static Map<String, Object> region(RegionEvent e, int number) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("number", number);
        m.put("box", e.box().toArray());
        m.put("source", "model");
        m.put("phrase", e.phrase());
        m.put("phraseStart", e.phraseStart());
        m.put("phraseEnd", e.phraseEnd());
        return m;
    }

    static Map<String, Object> mask(MaskRle rle) {
        return Map.of("size", List.of(rle.height(), rle.width()), "counts", rle.counts());
    }

    static Map<String, Object> point(WordPointEvent p, Integer number) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("word", p.word());
        m.put("start", p.start());
        m.put("end", p.end());
        m.put("x", p.x());
        m.put("y", p.y());
        if (number != null) m.put("number", number);
        return m;
    }

    static Map<String, Object> timings(Timings t, double queueMs) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("queueMs", queueMs);
        m.put("encodeMs", t.encodeMs());
        m.put("prefillMs", t.prefillMs());
        m.put("firstTokenMs", t.firstTokenMs());
        m.put("boxMs", t.boxMs());
        m.put("maskMs", t.maskMs());
        m.put("pointMs", t.pointMs());
        m.put("totalMs", t.totalMs());
        return m;
    }
}

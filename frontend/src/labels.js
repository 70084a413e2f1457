// Where each region's [n] label goes, for the image on screen and for the downloaded PNG alike: next to its box,
// never over another label when any free spot near the box exists, covering as little of other boxes as it can,
// and always inside the image (a label cut off by the image's edge cannot be read).

/**
 * items: [{number, box: [x1, y1, x2, y2], w, h}] in one coordinate space (screen pixels, or image pixels for the
 * PNG), w and h the label's size there; earlier items get the better spots. width, height: the image in that space.
 * Returns a Map number -> {x, y}, the label's top-left corner.
 */
export function placeLabels(items, width, height) {
  const placed = [];
  const out = new Map();
  for (const it of items) {
    let best = null;
    let bestScore = Infinity;
    for (const [cx, cy] of candidates(it)) {
      const x = clamp(cx, 0, width - it.w);
      const y = clamp(cy, 0, height - it.h);
      const r = [x, y, x + it.w, y + it.h];
      // a covered label is unreadable: that outweighs any amount of covered box
      let score = 0;
      for (const p of placed) score += 1e6 * area(r, p);
      for (const o of items) if (o !== it) score += area(r, o.box);
      if (score < bestScore) { best = r; bestScore = score; }
      if (score === 0) break; // the candidates come in order of preference
    }
    placed.push(best);
    out.set(it.number, { x: best[0], y: best[1] });
  }
  return out;
}

/** Spots in order of preference: on the box's corners outside it, then inside it, then further out above and below. */
function candidates({ box: [x1, y1, x2, y2], w, h }) {
  const list = [
    [x1, y1 - h], [x2 - w, y1 - h], [x1, y2], [x2 - w, y2],
    [x1, y1], [x2 - w, y1], [x1, y2 - h], [x2 - w, y2 - h],
    [x1 - w, y1], [x2, y1], [x1 - w, y2 - h], [x2, y2 - h],
  ];
  for (let k = 1; k <= 6; k++) list.push([x1, y1 - h - k * h], [x1, y2 + k * h], [x2 - w, y1 - h - k * h], [x2 - w, y2 + k * h]);
  return list;
}

function clamp(v, lo, hi) {
  return Math.max(lo, Math.min(Math.max(lo, hi), v));
}

function area(a, b) {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  return w > 0 && h > 0 ? w * h : 0;
}

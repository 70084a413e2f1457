// Masks arrive as row-major run-length encoding {size:[h,w], counts:[...]}: counts alternate runs of
// 0 and 1 pixels, starting with a (possibly empty) run of 0, over the h*w pixels in row-major order.

/** Fills `rgba` (Uint8ClampedArray of w*h*4) with `color` where the mask is 1. Returns the pixel count. */
export function paintRle(mask, rgba, color) {
  const [h, w] = mask.size;
  const total = h * w;
  const [r, g, b, a] = color;
  let pos = 0;
  let on = false;
  let area = 0;
  for (const run of mask.counts) {
    const end = Math.min(total, pos + run);
    if (on) {
      for (let i = pos; i < end; i++) {
        const o = i * 4;
        rgba[o] = r; rgba[o + 1] = g; rgba[o + 2] = b; rgba[o + 3] = a;
      }
      area += end - pos;
    }
    pos = end;
    on = !on;
    if (pos >= total) break;
  }
  return area;
}

/** Decodes to a canvas of the mask's own size (image pixels) tinted with `color` ([r,g,b,a] 0..255). */
export function maskToCanvas(mask, color) {
  const [h, w] = mask.size;
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(w, h);
  paintRle(mask, image.data, color);
  ctx.putImageData(image, 0, 0);
  return canvas;
}

export function isValidMask(mask) {
  return !!mask && Array.isArray(mask.size) && mask.size.length === 2 && Array.isArray(mask.counts)
    && mask.size[0] > 0 && mask.size[1] > 0;
}

// The image viewer: the picture scaled to fit, masks on a canvas that has the image's own pixel size
// (the browser scales it with the picture), and one absolutely positioned element per region, placed in
// percent of the image so it follows any resize. Each region element carries its box in image pixels
// (data-x1..data-y2) so tests and tools can read exactly what is drawn.
// Drawing: drag with mouse, pen or finger (pointer events) to add a box; a click without a drag picks the
// smallest region under the pointer; Escape cancels a drag in progress.
// Labels: each box's [n] tag is placed by labels.js so that tags do not cover each other and stay inside the image;
// the downloaded PNG uses the same placement, colours and the same choice of which regions are shown.
// Keyboard drawing (no pointer needed): with the image focused, Enter starts a box in the middle, arrows move it,
// Shift+arrows resize it (right/down grow, left/up shrink), Enter adds it, Escape drops it.

import { maskToCanvas, isValidMask } from './rle.js';
import { regionColor, hexToRgb } from './colors.js';
import { placeLabels } from './labels.js';

const MIN_DRAG_PX = 5; // on screen; smaller drags count as clicks
const MAX_UPSCALE = 4;

export class ImageStage {
  constructor(els, callbacks) {
    this.els = els; // {area, frame, img, canvas, overlay, dropzone}
    this.cb = callbacks; // {onDraw(box), onRegionClick(n), onHover(n|null)}
    this.width = 0;
    this.height = 0;
    this.imageUrl = null;
    this.regions = new Map(); // number -> {region, el, maskCanvas}
    this.pending = [];
    this.points = [];
    this.highlight = null;
    this.shown = null; // the region numbers shown (one turn's), or null for all
    this.visible = { boxes: true, masks: true, points: false };
    this.drag = null;
    this.keyBox = null; // the box being drawn with the keyboard: {rect, box}
    this.pointFocusEl = null;

    new ResizeObserver(() => this.layout()).observe(els.area);
    this.bindPointer();
  }

  hasImage() {
    return !!this.imageUrl && this.width > 0;
  }

  /** Shows the image; resolves with {width, height} once it is decoded. */
  setImage(url) {
    const { img, frame, dropzone } = this.els;
    if (url === this.imageUrl) return Promise.resolve({ width: this.width, height: this.height });
    this.cancelDrawing();
    this.imageUrl = url;
    this.clearRegions();
    return new Promise((resolve, reject) => {
      img.onload = () => {
        if (this.imageUrl !== url) return;
        this.width = img.naturalWidth;
        this.height = img.naturalHeight;
        this.els.canvas.width = this.width;
        this.els.canvas.height = this.height;
        frame.hidden = false;
        dropzone.hidden = true;
        this.layout();
        this.renderAll();
        resolve({ width: this.width, height: this.height });
      };
      img.onerror = () => reject(new Error('The image could not be loaded.'));
      img.src = url;
    });
  }

  clearImage() {
    this.imageUrl = null;
    this.width = this.height = 0;
    this.els.img.removeAttribute('src');
    this.els.frame.hidden = true;
    this.els.dropzone.hidden = false;
    this.clearRegions();
    this.pending = [];
    this.renderPending();
  }

  clearRegions() {
    this.regions.clear();
    this.points = [];
    this.els.overlay.querySelectorAll('.region, .point-dot').forEach((el) => el.remove());
    this.showPoint(null);
    this.drawMasks();
  }

  /** Fits the picture into the stage area, keeping its aspect ratio. */
  layout() {
    if (!this.width) return;
    const { area, frame } = this.els;
    const style = getComputedStyle(area);
    const availW = area.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const availH = area.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
    const scale = Math.max(0.01, Math.min(availW / this.width, availH / this.height, MAX_UPSCALE));
    frame.style.width = `${Math.floor(this.width * scale)}px`;
    frame.style.height = `${Math.floor(this.height * scale)}px`;
    this.layoutLabels();
  }

  // ---- regions ---------------------------------------------------------------------------------

  setRegions(list) {
    this.clearRegions();
    for (const r of list) this.upsertRegion(r);
  }

  upsertRegion(region) {
    if (!region || !Array.isArray(region.box) || !Number.isFinite(region.number)) return;
    let entry = this.regions.get(region.number);
    if (!entry) {
      entry = { region, el: this.createRegionEl(region), maskCanvas: null };
      this.regions.set(region.number, entry);
      this.els.overlay.appendChild(entry.el);
    } else {
      entry.region = { ...entry.region, ...region };
    }
    this.placeRegionEl(entry.el, entry.region);
    entry.el.classList.toggle('off-turn', !this.isShown(region.number));
    if (region.mask) this.setMask(region.number, region.mask);
    this.layoutLabels();
  }

  /** Shows only these region numbers (one turn's), or every region with null. */
  setShown(numbers) {
    this.shown = numbers ? new Set(numbers) : null;
    for (const [n, entry] of this.regions) entry.el.classList.toggle('off-turn', !this.isShown(n));
    this.drawMasks();
    this.layoutLabels();
  }

  isShown(number) {
    return !this.shown || this.shown.has(number);
  }

  /** The regions drawn now, in number order (lower numbers get the better label spots). */
  shownRegions() {
    return [...this.regions.entries()].filter(([n]) => this.isShown(n)).sort((a, b) => a[0] - b[0]);
  }

  /**
   * Places the [n] tags of the shown boxes (labels.js). A hidden region's tag is placed too, around the shown ones,
   * so that hovering its phrase in an older answer shows it without covering the others.
   */
  layoutLabels() {
    const fw = this.els.frame.clientWidth;
    const fh = this.els.frame.clientHeight;
    if (!this.width || !fw || !this.visible.boxes) return;
    const sx = fw / this.width;
    const sy = fh / this.height;
    const items = [];
    const hidden = [];
    for (const [n, entry] of [...this.regions.entries()].sort((a, b) => a[0] - b[0])) {
      const tag = entry.el.querySelector('.region-tag');
      const [x1, y1, x2, y2] = entry.region.box.map(Number);
      const item = { number: n, box: [x1 * sx, y1 * sy, x2 * sx, y2 * sy], w: tag.offsetWidth, h: tag.offsetHeight, tag };
      (this.isShown(n) ? items : hidden).push(item);
    }
    const at = placeLabels([...items, ...hidden], fw, fh);
    for (const it of [...items, ...hidden]) {
      const p = at.get(it.number);
      it.tag.style.left = `${p.x - it.box[0]}px`;
      it.tag.style.top = `${p.y - it.box[1]}px`;
    }
  }

  removeRegion(number) {
    const entry = this.regions.get(number);
    if (!entry) return;
    entry.el.remove();
    this.regions.delete(number);
    this.drawMasks();
    this.layoutLabels();
  }

  setMask(number, mask) {
    const entry = this.regions.get(number);
    if (!entry || !isValidMask(mask)) return;
    entry.region.mask = mask;
    entry.maskCanvas = maskToCanvas(mask, [...hexToRgb(regionColor(number)), 255]);
    entry.el.dataset.mask = 'true';
    this.drawMasks();
  }

  createRegionEl(region) {
    const el = document.createElement('div');
    el.className = 'region';
    // A label only: a drag that starts on it still draws a box (labels often sit on the object), and a click on it is
    // found by hitRegion. Keyboard and screen-reader users have the answer's region list in the chat, which does the
    // same without a Tab stop per box before the chat.
    const tag = document.createElement('span');
    tag.className = 'region-tag';
    tag.textContent = `[${region.number}]`;
    tag.setAttribute('aria-hidden', 'true');
    el.appendChild(tag);
    return el;
  }

  placeRegionEl(el, region) {
    const [x1, y1, x2, y2] = region.box.map(Number);
    const color = regionColor(region.number);
    Object.assign(el.dataset, {
      number: String(region.number),
      x1: String(x1), y1: String(y1), x2: String(x2), y2: String(y2),
      source: region.source || 'model',
      color,
    });
    el.style.setProperty('--c', color);
    this.placeBox(el, region.box);
    el.classList.toggle('hl', this.highlight === region.number);
  }

  placeBox(el, box) {
    const [x1, y1, x2, y2] = box.map(Number);
    const w = this.width || 1;
    const h = this.height || 1;
    el.style.left = `${(x1 / w) * 100}%`;
    el.style.top = `${(y1 / h) * 100}%`;
    el.style.width = `${(Math.max(0, x2 - x1) / w) * 100}%`;
    el.style.height = `${(Math.max(0, y2 - y1) / h) * 100}%`;
  }

  setHighlight(number) {
    this.highlight = number;
    for (const [n, entry] of this.regions) entry.el.classList.toggle('hl', n === number);
    this.els.overlay.classList.toggle('has-hl', number != null && this.regions.has(number));
    this.drawMasks();
  }

  setVisibility(visible) {
    this.visible = { ...this.visible, ...visible };
    const o = this.els.overlay;
    o.classList.toggle('hide-boxes', !this.visible.boxes);
    o.classList.toggle('show-points', this.visible.points);
    this.els.canvas.hidden = !this.visible.masks;
    if (!this.visible.points) this.showPoint(null);
    this.layoutLabels();
  }

  drawMasks() {
    const { canvas } = this.els;
    const ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    for (const [n, entry] of this.regions) {
      if (!entry.maskCanvas || (!this.isShown(n) && n !== this.highlight)) continue;
      ctx.globalAlpha = this.highlight == null ? 0.42 : n === this.highlight ? 0.65 : 0.18;
      ctx.drawImage(entry.maskCanvas, 0, 0, canvas.width, canvas.height);
    }
    ctx.globalAlpha = 1;
  }

  renderAll() {
    for (const entry of this.regions.values()) this.placeRegionEl(entry.el, entry.region);
    this.drawMasks();
    this.layoutLabels();
    this.renderPending();
    this.renderPoints();
  }

  // ---- pending (drawn, not yet sent) boxes ---------------------------------------------------

  setPending(list) {
    this.pending = list.slice();
    this.renderPending();
  }

  renderPending() {
    this.els.overlay.querySelectorAll('.pending-region').forEach((el) => el.remove());
    this.pending.forEach((p, i) => {
      const el = document.createElement('div');
      el.className = 'pending-region';
      el.dataset.index = String(i + 1);
      const [x1, y1, x2, y2] = p.box;
      Object.assign(el.dataset, { x1: String(x1), y1: String(y1), x2: String(x2), y2: String(y2) });
      const label = document.createElement('span');
      label.textContent = `#${i + 1}`;
      el.appendChild(label);
      this.placeBox(el, p.box);
      this.els.overlay.appendChild(el);
    });
  }

  // ---- word points -------------------------------------------------------------------------

  /** Points shown as small dots while the Points toggle is on (those of the latest answer). */
  setPoints(points) {
    this.points = points.slice();
    this.renderPoints();
  }

  renderPoints() {
    this.els.overlay.querySelectorAll('.point-dot').forEach((el) => el.remove());
    for (const p of this.points) {
      const el = this.pointEl(p, 'point-dot');
      this.els.overlay.appendChild(el);
    }
  }

  pointEl(p, className) {
    const el = document.createElement('div');
    el.className = className;
    el.style.left = `${(p.x / (this.width || 1)) * 100}%`;
    el.style.top = `${(p.y / (this.height || 1)) * 100}%`;
    el.dataset.word = p.word || '';
    el.dataset.x = String(p.x);
    el.dataset.y = String(p.y);
    if (p.number != null) el.style.setProperty('--c', regionColor(p.number));
    return el;
  }

  /** Shows one word's point prominently (hover on a word), or hides it with null. */
  showPoint(p) {
    if (this.pointFocusEl) this.pointFocusEl.remove();
    this.pointFocusEl = null;
    if (!p || !this.hasImage()) return;
    const el = this.pointEl(p, 'point-focus');
    const label = document.createElement('span');
    label.textContent = p.word || '';
    el.appendChild(label);
    this.els.overlay.appendChild(el);
    this.pointFocusEl = el;
  }

  // ---- pointer: drawing, clicking and hovering -----------------------------------------------

  toImage(e) {
    const rect = this.els.frame.getBoundingClientRect();
    const x = ((e.clientX - rect.left) / rect.width) * this.width;
    const y = ((e.clientY - rect.top) / rect.height) * this.height;
    return {
      x: Math.min(this.width, Math.max(0, x)),
      y: Math.min(this.height, Math.max(0, y)),
      sx: e.clientX,
      sy: e.clientY,
    };
  }

  /** The region whose label is under the pointer, else the smallest shown box under it. */
  hitRegion(e, p) {
    if (!this.visible.boxes) return null;
    for (const [n, { el }] of this.shownRegions()) {
      const r = el.querySelector('.region-tag').getBoundingClientRect();
      if (e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom) return n;
    }
    return this.regionAt(p.x, p.y);
  }

  regionAt(x, y) {
    if (!this.visible.boxes) return null;
    let best = null;
    let bestArea = Infinity;
    for (const [n, { region }] of this.shownRegions()) {
      const [x1, y1, x2, y2] = region.box;
      if (x >= x1 && x <= x2 && y >= y1 && y <= y2) {
        const area = (x2 - x1) * (y2 - y1);
        if (area < bestArea) { best = n; bestArea = area; }
      }
    }
    return best;
  }

  bindPointer() {
    const { frame } = this.els;
    frame.addEventListener('pointerdown', (e) => {
      if (!this.hasImage() || (e.pointerType === 'mouse' && e.button !== 0)) return;
      e.preventDefault();
      frame.focus({ preventScroll: true });
      const start = this.toImage(e);
      const rect = document.createElement('div');
      rect.className = 'draw-rect';
      this.els.overlay.appendChild(rect);
      this.drag = { id: e.pointerId, start, rect, moved: false };
      frame.setPointerCapture(e.pointerId);
    });
    frame.addEventListener('pointermove', (e) => {
      if (!this.hasImage()) return;
      const p = this.toImage(e);
      if (this.drag && this.drag.id === e.pointerId) {
        const d = this.drag;
        if (Math.abs(p.sx - d.start.sx) >= MIN_DRAG_PX || Math.abs(p.sy - d.start.sy) >= MIN_DRAG_PX) d.moved = true;
        d.box = normBox(d.start, p);
        this.placeBox(d.rect, d.box);
        d.rect.classList.toggle('visible', d.moved);
      } else if (!this.drag) {
        const n = this.hitRegion(e, p);
        if (n !== this.hoverRegion) {
          this.hoverRegion = n;
          this.cb.onHover(n);
        }
      }
    });
    const finish = (e, cancelled) => {
      const d = this.drag;
      if (!d || d.id !== e.pointerId) return;
      this.drag = null;
      d.rect.remove();
      if (cancelled) return;
      const end = this.toImage(e);
      if (d.moved) {
        const box = normBox(d.start, end).map((v) => Math.round(v));
        if (box[2] - box[0] >= 2 && box[3] - box[1] >= 2) this.cb.onDraw(box);
      } else {
        const n = this.hitRegion(e, end);
        if (n != null) this.cb.onRegionClick(n);
      }
    };
    frame.addEventListener('pointerup', (e) => finish(e, false));
    frame.addEventListener('pointercancel', (e) => finish(e, true));
    frame.addEventListener('pointerleave', () => {
      if (!this.drag && this.hoverRegion != null) {
        this.hoverRegion = null;
        this.cb.onHover(null);
      }
    });
    frame.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.cancelDrawing();
      else this.keyDraw(e);
    });
  }

  /** Keyboard drawing; see the file comment for the keys. Steps are 2% of the image (10% with Ctrl). */
  keyDraw(e) {
    if (!this.hasImage() || this.drag) return;
    const k = this.keyBox;
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      if (!k) {
        const rect = document.createElement('div');
        rect.className = 'draw-rect visible keyboard';
        this.els.overlay.appendChild(rect);
        const w = this.width / 4;
        const h = this.height / 4;
        this.keyBox = { rect, box: [this.width / 2 - w / 2, this.height / 2 - h / 2, this.width / 2 + w / 2, this.height / 2 + h / 2] };
        this.placeBox(rect, this.keyBox.box);
      } else {
        k.rect.remove();
        this.keyBox = null;
        this.cb.onDraw(k.box.map((v) => Math.round(v)));
      }
      return;
    }
    const dirs = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (!k || !dirs[e.key]) return;
    e.preventDefault();
    const [dx, dy] = dirs[e.key];
    const f = e.ctrlKey ? 0.1 : 0.02;
    const sx = dx * this.width * f;
    const sy = dy * this.height * f;
    let [x1, y1, x2, y2] = k.box;
    if (e.shiftKey) {
      x2 = Math.min(this.width, Math.max(x1 + 2, x2 + sx));
      y2 = Math.min(this.height, Math.max(y1 + 2, y2 + sy));
    } else {
      const mx = Math.max(-x1, Math.min(this.width - x2, sx));
      const my = Math.max(-y1, Math.min(this.height - y2, sy));
      x1 += mx; x2 += mx; y1 += my; y2 += my;
    }
    k.box = [x1, y1, x2, y2];
    this.placeBox(k.rect, k.box);
  }

  /** Escape: drop the box being dragged or drawn with the keyboard, if any. Returns whether something was cancelled. */
  cancelDrawing() {
    if (this.keyBox) {
      this.keyBox.rect.remove();
      this.keyBox = null;
      return true;
    }
    if (!this.drag) return false;
    try { this.els.frame.releasePointerCapture(this.drag.id); } catch { /* already released */ }
    this.drag.rect.remove();
    this.drag = null;
    return true;
  }

  // ---- export ---------------------------------------------------------------------------------

  /**
   * The image with masks, boxes and labels burned in, at the image's own resolution: the regions shown on screen, in
   * their colours, labels placed as on screen (labels.js) at 13 px or more.
   */
  toPngBlob() {
    const w = this.width;
    const h = this.height;
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(this.els.img, 0, 0, w, h);
    const shown = this.shownRegions();
    if (this.visible.masks) {
      ctx.globalAlpha = 0.42;
      for (const [, entry] of shown) if (entry.maskCanvas) ctx.drawImage(entry.maskCanvas, 0, 0, w, h);
      ctx.globalAlpha = 1;
    }
    const line = Math.max(2, Math.round(Math.max(w, h) / 250));
    const font = Math.max(13, Math.round(Math.max(w, h) / 40));
    if (this.visible.boxes) {
      ctx.font = `bold ${font}px sans-serif`;
      const items = shown.map(([n, { region }]) => ({
        number: n, box: region.box.map(Number), w: Math.ceil(ctx.measureText(`[${n}]`).width) + 8, h: font + 6,
      }));
      for (const { number, box: [x1, y1, x2, y2] } of items) {
        ctx.lineWidth = line + 2;
        ctx.strokeStyle = 'rgba(255,255,255,0.85)';
        ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
        ctx.lineWidth = line;
        ctx.strokeStyle = regionColor(number);
        ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      }
      const at = placeLabels(items, w, h); // labels after every box: no box line crosses a label
      for (const it of items) {
        const { x, y } = at.get(it.number);
        ctx.fillStyle = regionColor(it.number);
        ctx.fillRect(x, y, it.w, it.h);
        ctx.fillStyle = '#fff';
        ctx.textBaseline = 'middle';
        ctx.fillText(`[${it.number}]`, x + 4, y + it.h / 2);
      }
    }
    if (this.visible.points) {
      for (const p of this.points) {
        ctx.beginPath();
        ctx.arc(p.x, p.y, line + 1, 0, Math.PI * 2);
        ctx.fillStyle = p.number != null ? regionColor(p.number) : '#222';
        ctx.fill();
      }
    }
    return new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  }
}

function normBox(a, b) {
  return [Math.min(a.x, b.x), Math.min(a.y, b.y), Math.max(a.x, b.x), Math.max(a.y, b.y)];
}

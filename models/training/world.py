"""The synthetic world: its vocabulary and a renderer of scenes with exact ground truth.

Everything the model may talk about is defined here, in one place: shapes, colours, sizes.
A scene is an image of varied size with 1-8 flat-coloured shapes on a low-saturation background;
each object carries its attributes, its exact *visible* instance mask (occlusion applied) and its box.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SHAPES = ["circle", "square", "triangle", "star", "hexagon", "diamond"]
PLURALS = {s: s + "s" for s in SHAPES}
COLORS = {
    "red": (215, 35, 35),
    "orange": (245, 140, 25),
    "yellow": (240, 220, 30),
    "green": (35, 165, 55),
    "blue": (35, 75, 225),
    "purple": (140, 50, 190),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
}
# Object extent (the side of its bounding square) as a fraction of the image's longer side.
# The longer side is the side of the square-padded model input, so sizes are absolute for the model.
SIZES = {"small": (0.07, 0.10), "medium": (0.13, 0.17), "large": (0.21, 0.26)}
MIN_SIDE, MAX_SIDE = 160, 640
MIN_VISIBLE_FRACTION = 0.6  # occluded objects keep most of their area so they stay nameable
# Another renderer's idea of each colour (CSS / X11 named colours): restyled scenes draw from these too.
OTHER_COLORS = {
    "red": [(255, 0, 0), (220, 20, 60), (178, 34, 34)],
    "orange": [(255, 165, 0), (255, 140, 0), (255, 127, 80)],
    "yellow": [(255, 255, 0), (255, 215, 0), (250, 230, 80)],
    "green": [(0, 128, 0), (34, 139, 34), (50, 205, 50)],
    "blue": [(0, 0, 255), (30, 144, 255), (65, 105, 225)],
    "purple": [(128, 0, 128), (148, 0, 211), (160, 80, 200)],
    "white": [(255, 255, 255), (235, 235, 235), (245, 245, 220)],
    "black": [(0, 0, 0), (40, 40, 40), (25, 25, 60)],
}


@dataclass
class RenderStyle:
    """How another drawing program might differ (training-time variety; the default scene uses none of it).
    Labels never change: a restyled red star is still a red star of the same size class."""
    other_colors: float = 0.0  # probability that an object takes an OTHER_COLORS value
    color_noise: float = 6.0  # per-object colour jitter (std, 0-255)
    outline: float = 0.0  # probability that an object gets a darker or lighter outline
    rotate_flat: float = 0.0  # max rotation (radians) of squares and diamonds
    blur: float = 0.0  # Gaussian blur radius of the finished image (anti-aliased edges)
    noise: float = 0.0  # pixel noise std
    size_spill: float = 0.0  # fraction by which object extents may leave their size class's nominal range
    light_background: bool = False  # near-white or near-grey backgrounds as many drawing programs use


def random_style(rng: np.random.Generator) -> RenderStyle:
    return RenderStyle(other_colors=float(rng.choice([0.0, 0.5, 1.0])), color_noise=float(rng.uniform(4, 18)),
                       outline=float(rng.choice([0.0, 0.0, 0.5, 1.0])), rotate_flat=float(rng.choice([0.0, 0.2])),
                       blur=float(rng.choice([0.0, 0.0, 0.6, 1.0])), noise=float(rng.choice([0.0, 4.0, 10.0])),
                       size_spill=float(rng.choice([0.0, 0.1])), light_background=bool(rng.random() < 0.3))


@dataclass
class SceneObject:
    shape: str
    color: str
    size: str
    mask: np.ndarray  # bool [H, W], visible pixels only
    box: tuple  # (x1, y1, x2, y2) in pixels, of the visible mask, x2/y2 exclusive

    @property
    def center(self):
        return ((self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0)

    def description(self, article="a"):
        return f"{article} {self.size} {self.color} {self.shape}"


@dataclass
class Scene:
    image: Image.Image  # RGB, width x height
    objects: list

    @property
    def width(self):
        return self.image.width

    @property
    def height(self):
        return self.image.height

    @property
    def side(self):
        """Side of the square the image is padded to (right/bottom padding)."""
        return max(self.width, self.height)

    def normalized_box(self, obj):
        s = float(self.side)
        return [obj.box[0] / s, obj.box[1] / s, obj.box[2] / s, obj.box[3] / s]


def _rotated(pts, cx, cy, rot):
    c, s = math.cos(rot), math.sin(rot)
    return [(cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c) for x, y in pts]


def _polygon(shape, cx, cy, r, rot):
    if shape == "square":
        pts = [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
        return _rotated(pts, cx, cy, rot) if rot else pts
    if shape == "diamond":
        pts = [(cx, cy - r), (cx + r * 0.75, cy), (cx, cy + r), (cx - r * 0.75, cy)]
        return _rotated(pts, cx, cy, rot) if rot else pts
    if shape == "triangle":
        return [(cx + r * math.cos(rot + k * 2 * math.pi / 3 - math.pi / 2),
                 cy + r * math.sin(rot + k * 2 * math.pi / 3 - math.pi / 2)) for k in range(3)]
    if shape == "hexagon":
        return [(cx + r * math.cos(rot + k * math.pi / 3), cy + r * math.sin(rot + k * math.pi / 3)) for k in range(6)]
    if shape == "star":
        pts = []
        for k in range(10):
            rr = r if k % 2 == 0 else r * 0.45
            a = rot + k * math.pi / 5 - math.pi / 2
            pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
        return pts
    raise ValueError(shape)


def _draw_mask(shape, w, h, cx, cy, r, rot):
    m = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(m)
    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    else:
        d.polygon(_polygon(shape, cx, cy, r, rot), fill=255)
    return np.asarray(m) > 127


def _background(rng, w, h, light=False):
    """Flat, gradient or lightly noisy low-saturation background, far from every object colour."""
    def tone():
        if light:
            hue, sat, val = rng.random(), rng.uniform(0.0, 0.08), rng.uniform(0.78, 0.9)
        else:
            hue, sat, val = rng.random(), rng.uniform(0.05, 0.22), rng.uniform(0.45, 0.72)
        return np.array(colorsys.hsv_to_rgb(hue, sat, val)) * 255
    kind = rng.integers(3)
    a = tone()
    img = np.broadcast_to(a, (h, w, 3)).astype(np.float32)
    if kind == 1:
        b = tone()
        if rng.random() < 0.5:
            t = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
        else:
            t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        img = np.broadcast_to(a * (1 - t) + b * t, (h, w, 3)).astype(np.float32)
    elif kind == 2:
        img = img + rng.normal(0, 8, size=(h, w, 1)).astype(np.float32)
    return np.array(img, dtype=np.float32)


def render_scene(rng: np.random.Generator, n_objects=None, min_objects=1, max_objects=8, spec=None,
                 style: RenderStyle = None) -> Scene:
    """Render one scene. ``spec`` optionally forces a list of (shape, color, size) for the objects; ``style``
    draws it the way another program might (None: the canonical look, and the same random draws as always)."""
    aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
    longer = int(rng.integers(MIN_SIDE * 2, MAX_SIDE + 1))
    if aspect >= 1:
        w, h = longer, max(MIN_SIDE, int(round(longer / aspect)))
    else:
        w, h = max(MIN_SIDE, int(round(longer * aspect))), longer
    side = max(w, h)
    img = _background(rng, w, h, light=bool(style and style.light_background))
    if spec is None:
        n = int(n_objects if n_objects is not None else rng.integers(min_objects, max_objects + 1))
        spec = [(SHAPES[rng.integers(len(SHAPES))], list(COLORS)[rng.integers(len(COLORS))],
                 list(SIZES)[rng.integers(len(SIZES))]) for _ in range(n)]
    full_masks, placed = [], []
    for shape, color, size in spec:
        for _attempt in range(30):
            lo, hi = SIZES[size]
            if style and style.size_spill:
                lo, hi = lo * (1 - style.size_spill), hi * (1 + style.size_spill)
            extent = rng.uniform(lo, hi) * side
            r = extent / 2
            cx, cy = rng.uniform(r + 1, w - r - 1), rng.uniform(r + 1, h - r - 1)
            if r * 2 + 2 > min(w, h):
                continue
            if shape in ("triangle", "star", "hexagon"):
                rot = rng.uniform(0, 2 * math.pi)
            elif style and style.rotate_flat and shape != "circle":
                rot = rng.uniform(-style.rotate_flat, style.rotate_flat)
            else:
                rot = 0.0
            m = _draw_mask(shape, w, h, cx, cy, r, rot)
            # every earlier object must keep enough of its area visible, and the new one must not hide
            # a centre-on-centre overlap (that would make relations ambiguous)
            ok = all((full & ~m & vis).sum() >= MIN_VISIBLE_FRACTION * full.sum()
                     for full, vis in zip(full_masks, _visible(full_masks)))
            if ok:
                full_masks.append(m)
                placed.append((shape, color, size))
                break
    visible = _visible(full_masks)
    objects = []
    for (shape, color, size), full, vis in zip(placed, full_masks, visible):
        if style is None:
            col = np.array(COLORS[color], dtype=np.float32) + rng.normal(0, 6, 3)
        else:
            base = COLORS[color] if rng.random() >= style.other_colors else \
                OTHER_COLORS[color][rng.integers(len(OTHER_COLORS[color]))]
            col = np.array(base, dtype=np.float32) + rng.normal(0, style.color_noise, 3)
        img[full] = col
        if style is not None and rng.random() < style.outline:
            edge = full & ~_eroded(full, int(rng.integers(1, 4)))
            img[edge] = np.clip(col * (0.45 if rng.random() < 0.7 else 1.4), 0, 255)
        ys, xs = np.nonzero(vis)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        objects.append(SceneObject(shape, color, size, vis, box))
    if style is not None and style.noise:
        img = img + rng.normal(0, style.noise, size=img.shape).astype(np.float32)
    image = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    if style is not None and style.blur:
        image = image.filter(ImageFilter.GaussianBlur(style.blur))
    return Scene(image, objects)


def _eroded(mask, k):
    """The mask shrunk by k pixels (4-neighbourhood)."""
    cur = mask
    for _ in range(k):
        p = np.pad(cur, 1, constant_values=False)
        cur = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return cur


def _visible(full_masks):
    """Visible part of each mask when drawn in order (later objects are on top)."""
    out = []
    for i, m in enumerate(full_masks):
        v = m.copy()
        for later in full_masks[i + 1:]:
            v &= ~later
        out.append(v)
    return out


def pole_of_inaccessibility(mask: np.ndarray, box) -> tuple:
    """A point well inside the mask (the pixel farthest from its border), in pixels. Used as the
    per-word alignment target: object centres can fall outside concave or occluded shapes."""
    x1, y1, x2, y2 = box
    crop = mask[y1:y2, x1:x2]
    step = max(1, int(math.ceil(max(crop.shape) / 48)))
    small = crop[::step, ::step]
    depth = np.zeros(small.shape, dtype=np.int32)
    cur = small.copy()
    level = 0
    while cur.any():
        level += 1
        depth[cur] = level
        padded = np.pad(cur, 1, constant_values=False)
        cur = (padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    iy, ix = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return (x1 + ix * step + step / 2.0, y1 + iy * step + step / 2.0)

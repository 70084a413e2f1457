"""Scene cache: renders scenes once and keeps what training needs, at model-input resolution.

Rendering a 640 px scene with exact occlusion costs tens of milliseconds, far more than a training step
spends per sample, so training draws conversations on the fly from a cache of pre-rendered scenes:
the preprocessed image (uint8, square-padded, resized to the model input), and per object its
attributes, normalized box, alignment point and visible mask (bit-packed, model-input resolution).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from world import COLORS, SHAPES, SIZES, SceneObject, Scene, pole_of_inaccessibility, random_style, render_scene

IMAGE_SIZE = 128
PAD_VALUE = (0.5, 0.5, 0.5)  # pad colour in 0..1, right/bottom of the image
MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)


def pad_and_resize(rgb: np.ndarray, size=IMAGE_SIZE) -> torch.Tensor:
    """HxWx3 uint8 -> 3xSxS float in 0..1: pad right/bottom to a square with PAD_VALUE, bilinear resize
    with half-pixel centres and no antialias. The Java engine reproduces exactly this."""
    h, w, _ = rgb.shape
    side = max(w, h)
    sq = torch.empty(3, side, side)
    sq[0].fill_(PAD_VALUE[0]); sq[1].fill_(PAD_VALUE[1]); sq[2].fill_(PAD_VALUE[2])
    sq[:, :h, :w] = torch.from_numpy(np.array(rgb)).permute(2, 0, 1).float() / 255.0
    return F.interpolate(sq[None], size=(size, size), mode="bilinear", align_corners=False, antialias=False)[0]


def normalize(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(MEAN).view(-1, 1, 1) if x.dim() == 3 else torch.tensor(MEAN).view(1, -1, 1, 1)
    std = torch.tensor(STD).view(-1, 1, 1) if x.dim() == 3 else torch.tensor(STD).view(1, -1, 1, 1)
    return (x - mean) / std


def mask_to_input_frame(mask: np.ndarray, side: int, size=IMAGE_SIZE) -> np.ndarray:
    """Visible mask (HxW bool) -> size x size bool in the square-padded model frame (nearest sample)."""
    h, w = mask.shape
    idx = ((np.arange(size) + 0.5) * side / size).astype(np.int64)
    out = np.zeros((size, size), dtype=bool)
    ys, xs = idx[idx < h], idx[idx < w]
    out[:len(ys), :len(xs)] = mask[np.ix_(ys, xs)]
    return out


def object_record(scene: Scene, o: SceneObject):
    px, py = pole_of_inaccessibility(o.mask, o.box)
    s = float(scene.side)
    return {"shape": o.shape, "color": o.color, "size": o.size, "box": scene.normalized_box(o),
            "point": [px / s, py / s]}


def _render_chunk(args):
    seed, count, restyled = args
    rng = np.random.default_rng(seed)
    images, objects, masks = [], [], []
    for _ in range(count):
        # no extra random draw without restyling: a cache of seed s stays the very scenes it always was
        style = random_style(rng) if restyled > 0 and rng.random() < restyled else None
        scene = render_scene(rng, style=style)
        images.append((pad_and_resize(np.asarray(scene.image)) * 255).round().byte().numpy())
        objs = [object_record(scene, o) for o in scene.objects]
        objects.append(objs)
        masks.append(np.stack([np.packbits(mask_to_input_frame(o.mask, scene.side)) for o in scene.objects]))
    return images, objects, masks


class CachedObject:
    """The attributes a conversation generator reads, from a cached record."""

    def __init__(self, rec):
        self.shape, self.color, self.size = rec["shape"], rec["color"], rec["size"]
        self.nbox = rec["box"]
        self.point = rec["point"]

    @property
    def center(self):
        return ((self.nbox[0] + self.nbox[2]) / 2.0, (self.nbox[1] + self.nbox[3]) / 2.0)

    def description(self, article="a"):
        return f"{article} {self.size} {self.color} {self.shape}"


class CachedScene:
    """Duck-types world.Scene for the conversation generator, in normalized units (side = 1)."""
    side = 1.0

    def __init__(self, recs):
        self.objects = [CachedObject(r) for r in recs]

    def normalized_box(self, obj):
        return list(obj.nbox)


def build_cache(path, n_scenes, seed, workers=2, chunk=250, restyled=0.0):
    """restyled: fraction of scenes drawn with a random RenderStyle (another program's look)."""
    jobs = [(seed * 100003 + k, min(chunk, n_scenes - k * chunk), restyled)
            for k in range((n_scenes + chunk - 1) // chunk)]
    images, objects, masks = [], [], []
    t0 = time.time()
    with mp.get_context("fork").Pool(workers) as pool:
        for i, (im, ob, ma) in enumerate(pool.imap(_render_chunk, jobs)):
            images += im; objects += ob; masks += ma
            print(f"\rscenes {len(images)}/{n_scenes}  {time.time() - t0:.0f}s", end="", flush=True)
    print()
    counts = np.array([len(o) for o in objects], dtype=np.int32)
    torch.save({"images": np.stack(images), "objects": objects, "masks": np.concatenate(masks),
                "mask_offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                "image_size": IMAGE_SIZE, "seed": seed}, path)


def load_cache(path):
    return torch.load(path)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Render a scene cache for training")
    ap.add_argument("--out", required=True)
    ap.add_argument("--scenes", type=int, default=16000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--restyled", type=float, default=0.0, help="fraction of scenes drawn in a random other style")
    a = ap.parse_args()
    build_cache(a.out, a.scenes, a.seed, a.workers, restyled=a.restyled)

"""Reference pix2emb inference in PyTorch: the algorithm the Java engine implements, step for step.

Used by the evaluation, by the golden-vector export and by the PyTorch-eager benchmark.
Decode loop: feed one input embedding per step; when the fed token is `<at>`, its hidden state goes to
the box decoder, and the next input is the `<boxes>` slot carrying the box encoder's embedding of that box.
Every fed word token's hidden state goes to the point head.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import GroundingModel, ModelConfig  # noqa: E402
from scenes import normalize, pad_and_resize  # noqa: E402
from tokenizer import SPECIAL_TOKENS, WordTokenizer  # noqa: E402


BANNED_TOKENS = ["<pad>", "<unk>", "<image>", "<boxes>", "<user>", "<assistant>"]


def load_model(checkpoint):
    ck = torch.load(checkpoint, map_location="cpu")
    model = GroundingModel(ModelConfig(**ck["config"]))
    model.load_state_dict(ck["model"])
    return model.eval()


class Features(NamedTuple):
    """What the runtime keeps per image (the vision encoder's outputs in the bundle)."""
    image_embeds: torch.Tensor  # [1, T, D] spliced into the prompt at <image>
    feature_map: torch.Tensor  # [1, C, H, W] for masks, proposals and region features
    location_keys: torch.Tensor  # [1, G*G, D] the 16x16 location grid
    box_keys: torch.Tensor  # [1, G*G (+K pointer rows), 2D] location keys projected for the box decoder's attention
    point_keys: torch.Tensor  # [1, G*G (+K zero rows), 2D] the same for the point head


def image_features(model, pixel_values):
    image_embeds, feature_map, location_keys, objects = model.encode_image_objects(pixel_values)
    return Features(image_embeds, feature_map, location_keys,
                    *model.location_heads_keys(image_embeds, location_keys, objects))


@dataclass
class Region:
    box: list  # normalized x1,y1,x2,y2
    phrase: list  # token strings of the phrase before it
    token_index: int  # index in the answer tokens of its <at>


@dataclass
class Answer:
    tokens: list = field(default_factory=list)  # generated token ids (incl. <at>, <boxes>; without <end>)
    regions: list = field(default_factory=list)
    points: list = field(default_factory=list)  # (answer token index, x, y) for every non-special token
    timings: dict = field(default_factory=dict)


class Reference:
    def __init__(self, model: GroundingModel, tok: WordTokenizer = None):
        self.m, self.tok = model, tok or WordTokenizer()
        self.c = model.config
        self.special = {t: self.tok.id(t) for t in SPECIAL_TOKENS}
        # tokens the model never writes itself: <boxes> only follows <at> (forced), the rest are prompt-only
        self.banned = [self.special[t] for t in BANNED_TOKENS]

    @torch.no_grad()
    def encode_image(self, rgb: np.ndarray):
        return image_features(self.m, normalize(pad_and_resize(rgb, self.c.image_size))[None])

    def prompt(self, history, user_text, user_boxes):
        """history: list of (user_text, user_boxes, answer_ids, answer_boxes). Returns ids and slot boxes."""
        ids, slots = [], []
        turns = list(history) + [(user_text, user_boxes, None, None)]
        for k, (u, ub, a_ids, a_boxes) in enumerate(turns):
            ids.append(self.special["<user>"])
            if k == 0:
                ids.append(self.special["<image>"])
            boxes = iter(ub)
            for i in self.tok.encode(u):
                if i == self.special["<boxes>"]:
                    slots.append((len(ids), list(next(boxes))))
                ids.append(i)
            ids += [self.special["<end>"], self.special["<assistant>"]]
            if a_ids is not None:
                boxes = iter(a_boxes)
                for i in a_ids:
                    if i == self.special["<boxes>"]:
                        slots.append((len(ids), list(next(boxes))))
                    ids.append(i)
                ids.append(self.special["<end>"])
        return ids, slots

    @torch.no_grad()
    def embed(self, ids, slots, feats: Features):
        image_embeds = feats.image_embeds
        x = self.m.decoder.tok(torch.tensor(ids)[None])
        for pos, box in slots:
            x[0, pos] = self.m.box_encoder(torch.tensor([box], dtype=torch.float32), feats.feature_map)[0]
        if self.special["<image>"] in ids:
            k = ids.index(self.special["<image>"])
            x = torch.cat([x[:, :k], image_embeds, x[:, k + 1:]], 1)
        return x

    @torch.no_grad()
    def generate(self, feats: Features, history, user_text, user_boxes=(), max_new=96):
        t0 = time.perf_counter()
        ids, slots = self.prompt(history, user_text, list(user_boxes))
        x = self.embed(ids, slots, feats)
        n = x.shape[1]
        logits, hidden, past = self.m.decoder(x, torch.ones(1, n, dtype=torch.long), torch.arange(n)[None])
        t1 = time.perf_counter()
        ans = Answer()
        phrase, inside = [], False
        nxt = self.pick(logits)
        first = None
        while len(ans.tokens) < max_new and nxt != self.special["<end>"]:
            if first is None:
                first = time.perf_counter()
            ans.tokens.append(nxt)
            emb = self.m.decoder.tok(torch.tensor([[nxt]]))
            logits, hidden, past = self.step(emb, n, past)
            n += 1
            word = self.tok.vocab[nxt]
            if nxt == self.special["<p>"]:
                inside, phrase = True, []
            elif nxt == self.special["</p>"]:
                inside = False
            elif word not in self.special:
                if inside:
                    phrase.append(word)
                pt = self.m.point_head.from_keys(hidden[:, -1], feats.point_keys)[0].tolist()
                ans.points.append((len(ans.tokens) - 1, pt[0], pt[1]))
            if nxt == self.special["<at>"]:
                box = self.m.box_decoder.from_keys(hidden[:, -1], feats.box_keys)
                ans.regions.append(Region(box[0].tolist(), phrase, len(ans.tokens) - 1))
                phrase = []
                ans.tokens.append(self.special["<boxes>"])
                logits, hidden, past = self.step(self.m.box_encoder(box, feats.feature_map)[None], n, past)
                n += 1
            nxt = self.pick(logits)
        t2 = time.perf_counter()
        ans.timings = {"prefill_ms": (t1 - t0) * 1000, "first_token_ms": ((first or t2) - t0) * 1000,
                       "total_ms": (t2 - t0) * 1000, "prompt_tokens": x.shape[1]}
        return ans

    def pick(self, logits):
        """Greedy choice among the tokens the model may write."""
        last = logits[0, -1].clone()
        last[self.banned] = float("-inf")
        return int(last.argmax())

    def step(self, emb, n, past):
        return self.m.decoder(emb, torch.ones(1, n + 1, dtype=torch.long), torch.tensor([[n]]), past)

    @torch.no_grad()
    def mask(self, feature_map, box):
        b = torch.tensor([box], dtype=torch.float32)
        logits, score = self.m.mask_decoder(feature_map, b, self.m.box_encoder(b, feature_map))
        return logits[0].numpy(), float(score[0])

    @torch.no_grad()
    def proposals(self, feature_map, threshold=0.3, nms_iou=0.5, max_count=16):
        boxes, scores = self.m.proposal_head(feature_map)
        return nms(boxes[0].numpy(), scores[0].numpy(), threshold, nms_iou, max_count)

    def text(self, tokens):
        return " ".join(self.tok.vocab[i] for i in tokens)


def clip_box(box, scene):
    """A normalized box clipped to the image (stored regions are pixel boxes inside the image)."""
    s = float(scene.side)
    lim = [scene.width / s, scene.height / s, scene.width / s, scene.height / s]
    return [min(max(v, 0.0), m) for v, m in zip(box, lim)]


def nms(boxes, scores, threshold, iou_limit, max_count):
    order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] >= threshold]
    keep = []
    for i in order:
        if all(box_iou(boxes[i], boxes[j]) <= iou_limit for j in keep):
            keep.append(i)
        if len(keep) == max_count:
            break
    return [(boxes[i].tolist(), float(scores[i])) for i in keep]


def box_iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def mask_to_image(logits, box, width, height, expand):
    """Crop-frame mask logits (MxM) -> boolean mask of the original image (bilinear on logits, > 0).
    Pixel (x, y) has normalized centre ((x+0.5)/side, (y+0.5)/side); outside the crop frame is background."""
    m = logits.shape[0]
    side = float(max(width, height))
    x1, y1, x2, y2 = box
    w, h = max(x2 - x1, 1e-3), max(y2 - y1, 1e-3)
    cx1, cy1, cw, ch = x1 - expand * w, y1 - expand * h, w * (1 + 2 * expand), h * (1 + 2 * expand)
    out = np.zeros((height, width), dtype=bool)
    px0, px1 = max(0, int(np.floor(cx1 * side))), min(width, int(np.ceil((cx1 + cw) * side)) + 1)
    py0, py1 = max(0, int(np.floor(cy1 * side))), min(height, int(np.ceil((cy1 + ch) * side)) + 1)
    if px0 >= px1 or py0 >= py1:
        return out
    gx = ((np.arange(px0, px1) + 0.5) / side - cx1) / cw * m - 0.5
    gy = ((np.arange(py0, py1) + 0.5) / side - cy1) / ch * m - 0.5
    inside_x = (gx >= -0.5) & (gx <= m - 0.5)
    inside_y = (gy >= -0.5) & (gy <= m - 0.5)
    gx, gy = np.clip(gx, 0, m - 1), np.clip(gy, 0, m - 1)
    x0i, y0i = np.floor(gx).astype(int), np.floor(gy).astype(int)
    x1i, y1i = np.minimum(x0i + 1, m - 1), np.minimum(y0i + 1, m - 1)
    fx, fy = (gx - x0i)[None, :], (gy - y0i)[:, None]
    top = logits[np.ix_(y0i, x0i)] * (1 - fx) + logits[np.ix_(y0i, x1i)] * fx
    bot = logits[np.ix_(y1i, x0i)] * (1 - fx) + logits[np.ix_(y1i, x1i)] * fx
    val = top * (1 - fy) + bot * fy
    out[py0:py1, px0:px1] = (val > 0) & inside_y[:, None] & inside_x[None, :]
    return out

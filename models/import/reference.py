"""Plain-PyTorch reference of an imported NExT-Chat model: image preprocessing, prompt, greedy generation with
boxes after <at>, SAM masks. It runs the same modules that import_nextchat.py exports, with the bundle's
conventions (bundle.json, contract 3), so a runtime that follows the contract reproduces its tokens, boxes and
masks.

    /usr/bin/python3 models/import/reference.py --checkpoint DIR --image photo.jpg --prompt "where is the dog?"
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from import_nextchat import load_model, manifest, read_tokenizer  # noqa: E402
from llama_tokenizer import LlamaTokenizer  # noqa: E402
from nextchat import CLIP_MEAN, CLIP_STD, SAM_MEAN, SAM_STD, NextChat  # noqa: E402


def pad_square(img: Image.Image, color=(255, 255, 255)):
    """Shikra/NExT-Chat's Expand2square: the image centred on a square of side max(w, h), offsets rounded down."""
    w, h = img.size
    side = max(w, h)
    ox, oy = (side - w) // 2, (side - h) // 2
    sq = Image.new("RGB", (side, side), color)
    sq.paste(img.convert("RGB"), (ox, oy))
    return sq, side, ox, oy


def clip_pixels(square: Image.Image, size):
    """CLIPImageProcessor on a square image: PIL bicubic resize to size x size (its centre crop is then a no-op),
    /255, CLIP mean/std."""
    a = np.asarray(square.resize((size, size), Image.BICUBIC), dtype=np.float32) / 255.0
    a = (a - np.array(CLIP_MEAN, np.float32)) / np.array(CLIP_STD, np.float32)
    return torch.from_numpy(a.transpose(2, 0, 1).copy())[None]


def sam_pixels(square: Image.Image, size):
    """segment_anything's ResizeLongestSide (PIL bilinear) + Sam.preprocess (mean/std in 0..255); a square needs
    no padding."""
    a = np.asarray(square.resize((size, size), Image.BILINEAR), dtype=np.float32)
    a = (a - np.array(SAM_MEAN, np.float32)) / np.array(SAM_STD, np.float32)
    return torch.from_numpy(a.transpose(2, 0, 1).copy())[None]


def display_box(box, side, ox, oy, w, h):
    x1, y1, x2, y2 = [float(v) * side for v in box]
    x1, x2 = sorted((x1 - ox, x2 - ox))
    y1, y2 = sorted((y1 - oy, y2 - oy))
    return [min(max(x1, 0.0), w), min(max(y1, 0.0), h), min(max(x2, 0.0), w), min(max(y2, 0.0), h)]


def mask_to_image(logits, side, ox, oy, w, h):
    """mask_logits cover the padded square: bilinear (half-pixel centres) up to its side, the image cut out,
    threshold 0."""
    up = F.interpolate(logits[None], size=(side, side), mode="bilinear", align_corners=False)[0, 0]
    return (up[oy:oy + h, ox:ox + w] > 0).numpy()


def rle_row_major(mask):
    """Runs of 0 and 1 alternating, starting with 0, over the row-major flattening."""
    flat = mask.reshape(-1).astype(np.int8)
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    return ([0] + runs) if flat[0] == 1 else runs


@dataclass
class Region:
    token_index: int
    box: list
    box_px: list
    mask_score: float
    mask: np.ndarray


@dataclass
class Answer:
    prompt_ids: list
    tokens: list = field(default_factory=list)
    regions: list = field(default_factory=list)
    finish_reason: str = "length"
    min_margin: float = float("inf")  # smallest top-1 minus top-2 logit gap over the greedy picks


class Reference:
    def __init__(self, model: NextChat, tokenizer: LlamaTokenizer, bundle: dict):
        self.m, self.tok, self.b = model.eval(), tokenizer, bundle
        self.sp = bundle["special_tokens"]

    def prompt(self, user_text):
        p = self.b["prompt"]
        image = "<im_start>" + "<im_patch>" * self.b["dims"]["image_tokens"] + "<im_end>"
        return f"{p['system']} USER: {image} {user_text} ASSISTANT:"

    @torch.no_grad()
    def generate(self, img: Image.Image, user_text, user_boxes=(), max_new_tokens=None):
        m, sp = self.m, self.sp
        square, side, ox, oy = pad_square(img)
        w, h = img.size
        pv = clip_pixels(square, self.b["image"]["size"])
        spv = sam_pixels(square, self.b["mask_image"]["size"])
        image_embeds = m.image_embeds(pv)[0]
        sam_embed = m.mask_image_embeddings(spv)
        ids = self.tok.encode(self.prompt(user_text))
        ans = Answer(prompt_ids=ids)
        emb = m.model.embed_tokens(torch.tensor(ids))
        patch_rows = [i for i, t in enumerate(ids) if t == sp["image_patch"]]
        assert len(patch_rows) == image_embeds.shape[0]
        emb[patch_rows] = image_embeds
        box_rows = [i for i, t in enumerate(ids) if t == sp["boxes"]]
        assert len(box_rows) == len(user_boxes), "one box per <boxes> in the user text"
        if box_rows:
            emb[box_rows] = m.box_encoder(torch.tensor(user_boxes, dtype=torch.float32))
        n = len(ids)
        logits, hidden, past = m.decode(emb[None], torch.ones(1, n, dtype=torch.long), torch.arange(n)[None])
        banned = torch.tensor(self.b["generation"]["banned"])
        stop = set(self.b["generation"]["stop"])
        limit = max_new_tokens or self.b["generation"]["max_new_tokens"]
        pos = n

        def feed(e):
            nonlocal logits, hidden, past, pos
            logits, hidden, past = m.decode(e.view(1, 1, -1), torch.ones(1, pos + 1, dtype=torch.long),
                                            torch.tensor([[pos]]), past)
            pos += 1

        while len(ans.tokens) < limit:
            row = logits[0, -1].clone()
            row[banned] = -float("inf")
            top2 = row.topk(2).values
            ans.min_margin = min(ans.min_margin, float(top2[0] - top2[1]))
            t = int(row.argmax())
            if t in stop:
                ans.finish_reason = "stop"
                break
            ans.tokens.append(t)
            feed(m.model.embed_tokens(torch.tensor([t]))[0])
            if t == sp["at"]:
                h_at = hidden[0, -1:]
                box = m.box_decoder(h_at)
                logits_m, score = m.mask_decoder(sam_embed, box, h_at)
                b = box[0].tolist()
                ans.regions.append(Region(len(ans.tokens) - 1, b, display_box(b, side, ox, oy, w, h), float(score[0]),
                                          mask_to_image(logits_m, side, ox, oy, w, h)))
                if len(ans.tokens) >= limit:
                    break
                ans.tokens.append(sp["boxes"])  # forced; its input embedding is the box's
                feed(m.box_encoder(box)[0])
        return ans, {"pixel_values": pv, "mask_pixel_values": spv, "image_embeds": image_embeds,
                     "mask_image_embeddings": sam_embed}

    def text(self, tokens):
        return self.tok.decode(tokens, skip_special=False)


def from_checkpoint(checkpoint_dir):
    m, _ = load_model(checkpoint_dir)
    spec = read_tokenizer(checkpoint_dir)
    bundle = manifest(m.config, spec, "reference", 0)
    return Reference(m, LlamaTokenizer(spec), bundle)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--prompt", required=True)
    ap.add_argument("--box", action="append", default=[], help="x1,y1,x2,y2 normalized, one per <boxes>")
    a = ap.parse_args()
    ref = from_checkpoint(a.checkpoint)
    boxes = [[float(v) for v in b.split(",")] for b in a.box]
    ans, _ = ref.generate(Image.open(a.image), a.prompt, boxes)
    print(json.dumps({"text": ref.tok.decode(ans.tokens, skip_special=False), "tokens": ans.tokens,
                      "boxes_px": [r.box_px for r in ans.regions],
                      "mask_areas": [int(r.mask.sum()) for r in ans.regions]}, indent=1))


if __name__ == "__main__":
    main()

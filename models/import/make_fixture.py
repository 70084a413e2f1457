"""Fabricates the tiny NExT-Chat checkpoint, imports it and writes the parity fixture the Java engine is tested
against without torch: the imported bundle, 3 images and, for 3 prompts on each, the plain-PyTorch reference's
prompt ids, tokens, boxes and masks.

    /usr/bin/python3 models/import/make_fixture.py [--out models/import/fixtures/nextchat-tiny] [--dump DIR]

--dump also writes each case's full input tensors (raw little-endian float32) for parity_check.java.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fabricate_nextchat  # noqa: E402
from import_nextchat import import_checkpoint  # noqa: E402
from llama_tokenizer import LlamaTokenizer  # noqa: E402
from reference import Reference, rle_row_major  # noqa: E402

PROMPTS = [("where is the dog ?", []), ("describe the picture briefly .", []),
           ("what is in this region <boxes> ?", [[0.2, 0.25, 0.6, 0.7]])]
SIZES = [(96, 64), (64, 96), (80, 80)]  # landscape, portrait, square: both centre-padding directions and none


def make_image(k, w, h):
    rng = np.random.default_rng(1000 + k)
    img = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(40, 200, 3)))
    d = ImageDraw.Draw(img)
    for _ in range(4):
        x1, y1 = int(rng.integers(0, w - 10)), int(rng.integers(0, h - 10))
        x2, y2 = x1 + int(rng.integers(8, w // 2)), y1 + int(rng.integers(8, h // 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)([x1, y1, x2, y2], fill=colour)
    return img


def head(t, n=8):
    return [float(v) for v in t.reshape(-1)[:n]]


def simulate_quantization(model, bits, block_size=32):
    """Replaces the decoder's MatMul weights by what a --quantize bundle's MatMulNBits use, so the reference
    predicts the quantized bundle (the difference to float is then the quantization's, not a runtime's)."""
    import torch
    from stream import dequantize_blocks, quantize_blocks
    linears = [mod for layer in model.model.layers for mod in
               (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj, layer.self_attn.o_proj,
                layer.mlp.gate_proj, layer.mlp.up_proj, layer.mlp.down_proj)] + [model.lm_head]
    with torch.no_grad():
        for lin in linears:
            b = lin.weight.numpy().T
            q, scales = quantize_blocks(b, bits, block_size)
            lin.weight.copy_(torch.from_numpy(dequantize_blocks(q, scales, bits, b.shape[0]).T.copy()))


def build(out, dump=None, checkpoint=None, quantize=None):
    tmp = None
    if checkpoint is None:
        tmp = tempfile.mkdtemp(prefix="nextchat-tiny-")
        checkpoint = tmp
        fabricate_nextchat.write(checkpoint, "bin")
    bundle_dir = os.path.join(out, "bundle")
    if os.path.exists(bundle_dir):
        shutil.rmtree(bundle_dir)
    model, man = import_checkpoint(checkpoint, bundle_dir, name="nextchat-tiny-fabricated", quantize=quantize)
    if quantize:
        from import_nextchat import load_model
        model, _ = load_model(checkpoint)  # the streamed import leaves its own model unloaded
        simulate_quantization(model, {"int8": 8, "int4": 4}[quantize])
    ref = Reference(model, LlamaTokenizer.load(os.path.join(bundle_dir, "tokenizer.json")), man)
    cases = []
    for k, (w, h) in enumerate(SIZES):
        img = make_image(k, w, h)
        name = f"image{k}.png"
        img.save(os.path.join(out, name))
        img = Image.open(os.path.join(out, name))
        for j, (text, boxes) in enumerate(PROMPTS):
            ans, t = ref.generate(img, text, boxes)
            if dump:
                os.makedirs(dump, exist_ok=True)
                for key in ("pixel_values", "mask_pixel_values"):
                    t[key].numpy().astype("<f4").tofile(os.path.join(dump, f"case{k}_{j}.{key}.f32"))
            regions = [{"token_index": r.token_index, "box": r.box, "box_px": r.box_px, "mask_score": r.mask_score,
                        "mask": {"size": [h, w], "counts": rle_row_major(r.mask)}, "mask_area": int(r.mask.sum())}
                       for r in ans.regions]
            cases.append({"image": name, "width": w, "height": h, "user": text, "user_boxes": boxes,
                          "prompt_ids": ans.prompt_ids, "answer_tokens": ans.tokens,
                          "answer_text": ref.text(ans.tokens), "finish_reason": ans.finish_reason,
                          "min_logit_margin": ans.min_margin,
                          "pixel_values_head": head(t["pixel_values"]),
                          "pixel_values_sum": float(t["pixel_values"].double().sum()),
                          "mask_pixel_values_head": head(t["mask_pixel_values"]),
                          "mask_pixel_values_sum": float(t["mask_pixel_values"].double().sum()),
                          "image_embeds_head": head(t["image_embeds"]),
                          "mask_image_embeddings_head": head(t["mask_image_embeddings"]),
                          "regions": regions})
    with open(os.path.join(out, "fixture.json"), "w") as f:
        json.dump({"bundle": "bundle", "tolerances": {"box": 1e-3, "mask_iou": 0.99, "embeds": 1e-4},
                   "note": "random tiny weights: tokens are meaningless text; min_logit_margin is the smallest "
                           "top-1/top-2 logit gap of the case's greedy picks (a runtime may differ where it is "
                           "below its float error)", "cases": cases}, f, indent=1)
    if tmp:
        shutil.rmtree(tmp)
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "fixtures", "nextchat-tiny"))
    ap.add_argument("--checkpoint", default=None, help="import this checkpoint instead of fabricating one")
    ap.add_argument("--dump", default=None)
    ap.add_argument("--quantize", choices=["int8", "int4"], default=None,
                    help="a quantized bundle and the reference with its dequantized decoder weights")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for c in build(a.out, a.dump, a.checkpoint, a.quantize):
        print(c["image"], c["user"], "->", len(c["answer_tokens"]), "tokens,", len(c["regions"]), "regions, margin",
              round(c["min_logit_margin"], 4))


if __name__ == "__main__":
    main()

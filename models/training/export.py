"""Exports a checkpoint to the model bundle the Java engine loads (models/default/).

    /usr/bin/python3 models/training/export.py --checkpoint models/training/runs/default/checkpoint.pt \
        --out models/default

Writes one ONNX file per part, tokenizer.json (+ tokenizer_config.json), genai_config.json for the decoder,
bundle.json (the manifest: the single contract with the runtime) and golden vectors (golden/).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from infer import BANNED_TOKENS, Reference, clip_box, image_features, load_model, mask_to_image  # noqa: E402
from scenes import IMAGE_SIZE, MEAN, PAD_VALUE, STD  # noqa: E402
from tokenizer import SPECIAL_TOKENS, WordTokenizer  # noqa: E402
from world import render_scene  # noqa: E402

BUNDLE_VERSION = "2.1"  # 2: box/point keys (16x16 location grid) from the vision encoder; region features in the box encoder
# 2.1: the decoder reads a KV buffer (of any width) and outputs only the new positions' keys and values (DecoderStep)
OPSET = 17
PROPOSALS = {"score_threshold": 0.3, "nms_iou": 0.5, "max": 16}
MAX_NEW_TOKENS = 96


class DecoderStep(nn.Module):
    """The decoder over a KV buffer, with GenAI's I/O names.

    past_key_values.{i}.key/value: [N, heads, M, head_dim] buffers (M: the runtime's stride, a multiple of 64 up to
    max_seq) whose valid columns
    attention_mask[:, :M] marks; attention_mask[:, M:] marks the L new positions. present.{i}.key/value: the keys and
    values of the L new positions only, [N, heads, L, head_dim], which the runtime writes into its buffer. The past
    and the new positions are scored apart and share one softmax, so no step concatenates (copies) the cache, unlike
    GenAI's default layout where present = concat(past, new). The same weights and results as Decoder.forward.
    """

    def __init__(self, decoder):
        super().__init__()
        self.d = decoder

    def forward(self, inputs_embeds, attention_mask, position_ids, *past_flat):
        d = self.d
        n, l, _ = inputs_embeds.shape
        m = past_flat[0].shape[2]
        past_ok = attention_mask[:, :m].view(n, 1, 1, m) > 0
        qi = torch.arange(l, device=inputs_embeds.device).view(l, 1)
        kj = torch.arange(l, device=inputs_embeds.device).view(1, l)
        new_ok = (kj <= qi).view(1, 1, l, l) & (attention_mask[:, m:].view(n, 1, 1, l) > 0)
        zeros_p = torch.zeros(past_ok.shape, dtype=inputs_embeds.dtype, device=inputs_embeds.device)
        zeros_n = torch.zeros(new_ok.shape, dtype=inputs_embeds.dtype, device=inputs_embeds.device)
        bias_p, bias_n = zeros_p.masked_fill(~past_ok, -1e4), zeros_n.masked_fill(~new_ok, -1e4)
        x = inputs_embeds + d.pos(position_ids)
        out = []
        for i, blk in enumerate(d.blocks):
            a = blk.attn
            q, k, v = a.qkv(blk.ln1(x)).view(n, l, 3, a.h, a.d).permute(2, 0, 3, 1, 4)
            pk, pv = past_flat[2 * i], past_flat[2 * i + 1]
            scale = 1.0 / math.sqrt(a.d)
            att = torch.cat([(q @ pk.transpose(-1, -2)) * scale + bias_p, (q @ k.transpose(-1, -2)) * scale + bias_n],
                            -1).softmax(-1)
            y = att[..., :m] @ pv + att[..., m:] @ v
            x = x + a.out(y.transpose(1, 2).reshape(n, l, -1))
            x = x + blk.mlp(blk.ln2(x))
            out += [k, v]
        hidden = d.ln(x)
        return (d.head(hidden), hidden, *out)


class VisionEncoderStep(nn.Module):
    """The vision encoder plus the once-per-image key projections of the box decoder and the point head."""

    def __init__(self, model):
        super().__init__()
        self.m = model

    def forward(self, pixel_values):
        f = image_features(self.m, pixel_values)
        return f.image_embeds, f.feature_map, f.box_keys, f.point_keys


class LocationQuery(nn.Module):
    """Box decoder or point head over pre-projected keys: one attention and an MLP per call."""

    def __init__(self, head):
        super().__init__()
        self.head = head

    def forward(self, hidden_state, keys):
        return self.head.from_keys(hidden_state, keys)


class EmbedTokens(nn.Module):
    def __init__(self, emb):
        super().__init__()
        self.emb = emb

    def forward(self, input_ids):
        return self.emb(input_ids)


def export(module, args, path, inputs, outputs, dynamic):
    # eval() first: the exporter restores the wrapper's own mode afterwards, and a new wrapper is in training mode,
    # which would leave the shared model's batch norms in training mode for the golden vectors
    module.eval()
    torch.onnx.export(module, args, path, input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                      opset_version=OPSET, do_constant_folding=True)


def export_all(model, out):
    c = model.config
    d = c.hidden
    export(VisionEncoderStep(model), (torch.randn(1, 3, c.image_size, c.image_size),), f"{out}/vision_encoder.onnx",
           ["pixel_values"], ["image_embeds", "feature_map", "box_keys", "point_keys"], {})
    export(EmbedTokens(model.decoder.tok), (torch.tensor([[1, 2, 3]]),), f"{out}/embed_tokens.onnx",
           ["input_ids"], ["inputs_embeds"], {"input_ids": {0: "batch", 1: "sequence_length"},
                                              "inputs_embeds": {0: "batch", 1: "sequence_length"}})
    p, l = c.max_seq, 3  # the runtime's buffer holds max_seq positions; the exported graph takes any buffer length
    past = []
    names_in, names_out = ["inputs_embeds", "attention_mask", "position_ids"], ["logits", "hidden_states"]
    dyn = {"inputs_embeds": {0: "batch", 1: "sequence_length"},
           "attention_mask": {0: "batch", 1: "buffer_and_sequence_length"},
           "position_ids": {0: "batch", 1: "sequence_length"},
           "logits": {0: "batch", 1: "sequence_length"}, "hidden_states": {0: "batch", 1: "sequence_length"}}
    for i in range(c.layers):
        for kind in ("key", "value"):
            past.append(torch.randn(1, c.heads, p, c.head_dim))
            names_in.append(f"past_key_values.{i}.{kind}")
            names_out.append(f"present.{i}.{kind}")
            dyn[f"past_key_values.{i}.{kind}"] = {0: "batch", 2: "buffer_length"}
            dyn[f"present.{i}.{kind}"] = {0: "batch", 2: "sequence_length"}
    export(DecoderStep(model.decoder), (torch.randn(1, l, d), torch.ones(1, p + l, dtype=torch.long),
                                        torch.arange(l)[None], *past),
           f"{out}/decoder.onnx", names_in, names_out, dyn)
    keys = torch.randn(1, c.key_rows, 2 * d)
    fmap = torch.randn(1, c.feature_channels, c.feature_size, c.feature_size)
    export(LocationQuery(model.box_decoder), (torch.randn(2, d), keys), f"{out}/box_decoder.onnx",
           ["hidden_state", "box_keys"], ["box"], {"hidden_state": {0: "N"}, "box": {0: "N"}})
    export(model.box_encoder, (torch.rand(2, 4), fmap), f"{out}/box_encoder.onnx", ["box", "feature_map"],
           ["box_embedding"], {"box": {0: "N"}, "box_embedding": {0: "N"}})
    export(model.mask_decoder, (torch.randn(1, c.feature_channels, c.feature_size, c.feature_size),
                                torch.tensor([[0.2, 0.2, 0.5, 0.6]]), torch.randn(1, d)),
           f"{out}/mask_decoder.onnx", ["feature_map", "box", "location_embedding"], ["mask_logits", "mask_score"], {})
    export(LocationQuery(model.point_head), (torch.randn(2, d), keys), f"{out}/point_head.onnx",
           ["hidden_state", "point_keys"],
           ["point"], {"hidden_state": {0: "N"}, "point": {0: "N"}})
    export(model.proposal_head, (torch.randn(1, c.feature_channels, c.feature_size, c.feature_size),),
           f"{out}/proposal_head.onnx", ["feature_map"], ["proposal_boxes", "proposal_scores"], {})


def manifest(model, tok, step):
    c = model.config
    sp = {t: tok.id(t) for t in SPECIAL_TOKENS}
    return {
        "name": "groundchat-shapes-pix2emb",
        "version": BUNDLE_VERSION,
        "kv_cache": "buffer",
        "trained_steps": step,
        "parameters": sum(p.numel() for p in model.parameters()),
        "files": {"vision_encoder": "vision_encoder.onnx", "embed_tokens": "embed_tokens.onnx",
                  "decoder": "decoder.onnx", "box_encoder": "box_encoder.onnx", "box_decoder": "box_decoder.onnx",
                  "mask_decoder": "mask_decoder.onnx", "point_head": "point_head.onnx",
                  "proposal_head": "proposal_head.onnx", "tokenizer": "tokenizer.json",
                  "tokenizer_config": "tokenizer_config.json", "genai_config": "genai_config.json",
                  "golden": "golden/golden.json"},
        "image": {"size": c.image_size, "mean": list(MEAN), "std": list(STD), "pad_value": list(PAD_VALUE),
                  "resize": "bilinear_half_pixel_no_antialias", "pad": "right_bottom", "channels": "RGB",
                  "layout": "NCHW", "scale": "1/255"},
        "dims": {"hidden": c.hidden, "layers": c.layers, "heads": c.heads, "head_dim": c.head_dim, "vocab": c.vocab,
                 "image_tokens": c.image_tokens, "object_tokens": c.object_tokens, "location_tokens": c.key_rows,
                 "feature_channels": c.feature_channels,
                 "feature_size": c.feature_size, "mask_size": c.mask_size, "max_seq": c.max_seq,
                 "proposals": c.proposal_grid * c.proposal_grid},
        "special_tokens": {"pad": sp["<pad>"], "unk": sp["<unk>"], "image": sp["<image>"], "at": sp["<at>"],
                           "boxes": sp["<boxes>"], "user": sp["<user>"], "assistant": sp["<assistant>"],
                           "end": sp["<end>"], "p_open": sp["<p>"], "p_close": sp["</p>"]},
        "box": {"format": "x1y1x2y2", "normalized_to": "padded_square_side", "origin": "top_left"},
        "mask": {"crop_expand": c.mask_crop_expand, "threshold": 0.0, "frame": "box_crop",
                 "sampling": "cell_centres_bilinear_logits"},
        "proposals": PROPOSALS,
        "generation": {"max_new_tokens": MAX_NEW_TOKENS, "stop": [sp["<end>"]],
                       "banned": [sp[t] for t in BANNED_TOKENS]},
        "prompt": {"template": "<user> <image> {user} <end> <assistant> {answer} <end> <user> {user} <end> <assistant>",
                   "image_token_expands_to": "image_tokens rows of image_embeds (the grid tokens, then "
                                             "object_tokens object rows), first user turn only",
                   "user_region": "<boxes> token in the user text; its embedding is box_encoder(box, feature_map)",
                   "answer_region": "<p> phrase </p> <at> <boxes>; box_decoder(hidden state at <at>, box_keys), "
                                    "then <boxes> input = box_encoder(box, feature_map)",
                   "position_ids": "0..n-1 over the whole sequence, image rows included"},
    }


def genai_config(model, tok):
    c = model.config
    return {"model": {
        "type": "gpt2", "context_length": c.max_seq, "vocab_size": c.vocab,
        "bos_token_id": tok.id("<user>"), "eos_token_id": tok.id("<end>"), "pad_token_id": tok.id("<pad>"),
        "decoder": {"filename": "decoder.onnx", "hidden_size": c.hidden, "num_attention_heads": c.heads,
                    "num_key_value_heads": c.heads, "num_hidden_layers": c.layers, "head_size": c.head_dim,
                    "inputs": {"inputs_embeds": "inputs_embeds", "attention_mask": "attention_mask",
                               "position_ids": "position_ids", "past_key_names": "past_key_values.%d.key",
                               "past_value_names": "past_key_values.%d.value"},
                    "outputs": {"logits": "logits", "present_key_names": "present.%d.key",
                                "present_value_names": "present.%d.value"}},
        "embedding": {"filename": "embed_tokens.onnx", "inputs": {"input_ids": "input_ids"},
                      "outputs": {"embeddings": "inputs_embeds"}},
        "vision": {"filename": "vision_encoder.onnx", "inputs": {"pixel_values": "pixel_values"},
                   "outputs": {"image_features": "image_embeds"}}},
        "search": {"max_length": c.max_seq, "do_sample": False, "num_beams": 1, "temperature": 1.0,
                   "top_k": 1, "top_p": 1.0}}


def rle_row_major(mask):
    """COCO-style uncompressed counts over the row-major flattening, starting with a run of zeros."""
    flat = mask.reshape(-1).astype(np.uint8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0] == 1:
        runs = [0] + runs
    return runs


GOLDEN_CASES = [
    # (scene seed, object count or None for the world's 1-8, turns); a turn is (user text, user boxes:
    # "obj0" = the first object's box, "prev" = the first region of the previous answer)
    (777_000_001, None, [("where is the {rec} ?", [])]),
    (777_000_002, None, [("describe the image .", [])]),
    (777_000_003, None, [("what is this <boxes> ?", ["obj0"])]),
    (777_000_004, None, [("find all {plural} .", []), ("what is this <boxes> ?", ["prev"])]),
    (777_000_005, None, [("segment the {rec} .", [])]),
    (777_000_006, None, [("is there a purple diamond ?", [])]),
    # sparse scenes, where the shipped model localizes reliably; the app's grounding tests use them
    (777_000_102, 1, [("where is the {rec} ?", [])]),
    (777_000_104, 1, [("describe the image .", [])]),
    (777_000_127, 2, [("where is the {rec} ?", [])]),
]


def golden(model, out):
    ref = Reference(model)
    os.makedirs(f"{out}/golden", exist_ok=True)
    cases = []
    for k, (seed, n_objects, turns) in enumerate(GOLDEN_CASES):
        scene = render_scene(np.random.default_rng(seed), n_objects=n_objects)
        img_name = f"case{k}.png"
        scene.image.save(f"{out}/golden/{img_name}")
        rgb = np.asarray(scene.image)
        feats = ref.encode_image(rgb)
        emb, fm = feats.image_embeds, feats.feature_map
        o0 = scene.objects[0]
        history, out_turns = [], []
        for text, boxes in turns:
            text = text.format(rec=f"{o0.size} {o0.color} {o0.shape}", plural=o0.shape + "s")
            norm_boxes = []
            for b in boxes:
                if b == "obj0":
                    norm_boxes.append(scene.normalized_box(o0))
                elif b == "prev":
                    prev = history[-1][3]
                    norm_boxes.append(prev[0] if prev else scene.normalized_box(o0))
            ans = ref.generate(feats, history, text, norm_boxes)
            regions = []
            for r in ans.regions:
                logits, score = ref.mask(fm, r.box)
                m = mask_to_image(logits, r.box, scene.width, scene.height, model.config.mask_crop_expand)
                regions.append({"box": r.box, "box_px": [v * scene.side for v in r.box], "phrase": " ".join(r.phrase),
                                "token_index": r.token_index, "mask_score": score,
                                "mask": {"size": [scene.height, scene.width], "counts": rle_row_major(m)},
                                "mask_area": int(m.sum()),
                                "mask_logits_sha256": hashlib.sha256(logits.astype(np.float32).tobytes()).hexdigest()})
            out_turns.append({"user": text, "user_boxes": norm_boxes,
                              "user_boxes_px": [[v * scene.side for v in b] for b in norm_boxes],
                              "answer_tokens": ans.tokens, "answer_text": ref.text(ans.tokens),
                              "regions": regions,
                              "points": [{"token_index": i, "x": x, "y": y} for i, x, y in ans.points]})
            # stored regions are pixel boxes clipped to the image; later turns feed those back
            history.append((text, norm_boxes, ans.tokens, [clip_box(r.box, scene) for r in ans.regions]))
        proposals = ref.proposals(fm, PROPOSALS["score_threshold"], PROPOSALS["nms_iou"], PROPOSALS["max"])
        cases.append({"image": img_name, "width": scene.width, "height": scene.height,
                      "image_embeds_head": emb[0, 0, :8].tolist(), "feature_map_head": fm[0, 0, 0, :8].tolist(),
                      "box_keys_head": feats.box_keys[0, 0, :8].tolist(),
                      "point_keys_head": feats.point_keys[0, 0, :8].tolist(),
                      "turns": out_turns,
                      "proposals": [{"box": b, "score": s} for b, s in proposals],
                      "truth": [{"shape": o.shape, "color": o.color, "size": o.size,
                                 "box_px": list(o.box)} for o in scene.objects]})
    with open(f"{out}/golden/golden.json", "w") as f:
        json.dump({"tolerances": {"box": 1e-3, "point": 1e-3, "mask_iou": 0.99}, "cases": cases}, f, indent=1)
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="models/training/runs/default/checkpoint.pt")
    ap.add_argument("--out", default="models/default")
    a = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = load_model(a.checkpoint)
    step = torch.load(a.checkpoint, map_location="cpu").get("step", 0)
    os.makedirs(a.out, exist_ok=True)
    tok = WordTokenizer()
    with torch.no_grad():
        export_all(model, a.out)
    tok.save(a.out)
    # the same weights for PyTorch (evaluation and the eager benchmark run them without retraining)
    torch.save({"model": model.state_dict(), "config": model.config.to_dict(), "step": step},
               f"{a.out}/pytorch_model.pt")
    with open(f"{a.out}/genai_config.json", "w") as f:
        json.dump(genai_config(model, tok), f, indent=1)
    with open(f"{a.out}/bundle.json", "w") as f:
        json.dump(manifest(model, tok, step), f, indent=1)
    cases = golden(model, a.out)
    for c in cases:
        for t in c["turns"]:
            print(t["user"], "->", t["answer_text"])


if __name__ == "__main__":
    main()

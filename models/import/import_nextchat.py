"""Imports a NExT-Chat (pix2emb) checkpoint into a GroundChat model bundle (contract major 3):

    /usr/bin/python3 models/import/import_nextchat.py --checkpoint DIR --out models/NAME

DIR is the checkpoint as published (config.json, pytorch_model-*.bin or model-*.safetensors with their index,
tokenizer.json + tokenizer_config.json, and the SAM weights file when the shards hold no sam.* tensors). Writes
vision_encoder.onnx, embed_tokens.onnx, decoder.onnx, box_decoder.onnx, box_encoder.onnx, mask_encoder.onnx,
mask_decoder.onnx (+ .data files with the weights of large graphs), bundle.json, genai_config.json,
tokenizer.json, tokenizer_config.json. NExT-Chat has no point head and no proposal head: bundle.json names them
null and says so in `capabilities`.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoint import Checkpoint  # noqa: E402
from nextchat import CLIP_MEAN, CLIP_STD, SAM_MEAN, SAM_STD, NextChat, NextChatConfig, mask_decode  # noqa: E402
from stream import merge_parts, no_init, stream_export  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "training"))
import export as training_export  # noqa: E402

BUNDLE_VERSION = "3.0"
OPSET = 17
MAX_NEW_TOKENS = 64
SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
          "detailed, and polite answers to the user's questions.")
NEXTCHAT_TOKENS = {"image_patch": "<im_patch>", "image_start": "<im_start>", "image_end": "<im_end>",
                   "at": "<at>", "boxes": "<boxes>"}


# Each wrapper holds only the submodules its graph uses, and `names` maps its parameter names to the
# checkpoint's: the tracer copies every weight of the module it traces, so a wrapper around the whole model
# would cost the whole model in memory for each part.
class VisionEncoder(nn.Module):
    names = {"v.": "model.vision_tower.vision_model.", "p.": "model.mm_projector."}

    def __init__(self, m):
        super().__init__()
        self.v, self.p, self.layer = m.model.vision_tower.vision_model, m.model.mm_projector, m.config.mm_vision_select_layer

    def forward(self, pixel_values):
        return self.p(self.v.select(pixel_values, self.layer))


class Single(nn.Module):
    """A part that is one submodule of the checkpoint (embed_tokens, loc_encoder/decoder, SAM's image encoder)."""

    def __init__(self, module, checkpoint_prefix):
        super().__init__()
        self.s = module
        self.names = {"s.": checkpoint_prefix}

    def forward(self, *args):
        return self.s(*args)


class Decoder(nn.Module):
    """GenAI's I/O names: flat past_key_values.{i}.key/value in, present.{i}.key/value out."""
    names = {"m.": ""}

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, inputs_embeds, attention_mask, position_ids, *past_flat):
        past = [(past_flat[2 * i], past_flat[2 * i + 1]) for i in range(len(past_flat) // 2)]
        logits, hidden, presents = self.m.decode(inputs_embeds, attention_mask, position_ids, past)
        out = [logits, hidden]
        for k, v in presents:
            out += [k, v]
        return tuple(out)


class DecoderPrologue(nn.Module):
    """The streamed decoder in pieces (prologue, one graph per layer, epilogue), merged into one decoder.onnx."""
    names = {}

    def __init__(self, m):
        super().__init__()
        self.f = m.decode_prologue

    def forward(self, inputs_embeds, attention_mask, position_ids):
        return self.f(inputs_embeds, attention_mask, position_ids)


class DecoderLayer(nn.Module):
    def __init__(self, m, i):
        super().__init__()
        self.layer = m.model.layers[i]
        self.names = {"layer.": f"model.layers.{i}."}

    def forward(self, x, cos, sin, bias, past_k, past_v):
        return self.layer(x, cos, sin, bias, past_k, past_v)


class DecoderEpilogue(nn.Module):
    names = {"norm.": "model.norm.", "head.": "lm_head."}

    def __init__(self, m):
        super().__init__()
        self.norm, self.head = m.model.norm, m.lm_head

    def forward(self, x):
        hidden = self.norm(x)
        return self.head(hidden), hidden


class MaskDecoder(nn.Module):
    names = {"mlp.": "seg_prompt_mlp.", "pe.": "sam.model.prompt_encoder.", "md.": "sam.model.mask_decoder."}

    def __init__(self, m):
        super().__init__()
        self.mlp, self.pe, self.md, self.s = m.seg_prompt_mlp, m.sam.model.prompt_encoder, m.sam.model.mask_decoder, m.config.sam

    def forward(self, image_embeddings, box, hidden_state):
        return mask_decode(self.mlp, self.pe, self.md, self.s, image_embeddings, box, hidden_state)


def checkpoint_name(module, name):
    for local, ck in module.names.items():
        if name.startswith(local):
            return ck + name[len(local):]
    raise KeyError(name)


def export(module, args, path, inputs, outputs, dynamic, stream=None, quantize_bits=None):
    """stream: a Checkpoint to read the weights from one at a time (the module's own are left unloaded).
    Unstreamed, torch writes external data by itself when a graph would pass protobuf's 2 GB."""
    if stream is not None:
        return stream_export(module, args, path, inputs, outputs, dynamic,
                             lambda n: stream.get(checkpoint_name(module, n)), OPSET, quantize_bits)
    module.eval()
    torch.onnx.export(module, args, path, input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                      opset_version=OPSET, do_constant_folding=True)


def export_all(m: NextChat, out, stream=None, quantize_bits=None):
    def ex(*args, quantize=False):
        export(*args, stream=stream, quantize_bits=quantize_bits if quantize else None)
    c = m.config
    d = c.hidden_size
    v, s = c.vision, c.sam
    with torch.no_grad():
        ex(VisionEncoder(m), (torch.randn(1, 3, v.image_size, v.image_size),), f"{out}/vision_encoder.onnx",
               ["pixel_values"], ["image_embeds"], {})
        ex(Single(m.model.embed_tokens, "model.embed_tokens."), (torch.tensor([[1, 2, 3]]),), f"{out}/embed_tokens.onnx", ["input_ids"],
               ["inputs_embeds"], {"input_ids": {0: "batch", 1: "sequence_length"},
                                   "inputs_embeds": {0: "batch", 1: "sequence_length"}})
        p, l = 5, 3
        names_in, names_out = ["inputs_embeds", "attention_mask", "position_ids"], ["logits", "hidden_states"]
        dyn = {"inputs_embeds": {0: "batch", 1: "sequence_length"},
               "attention_mask": {0: "batch", 1: "total_sequence_length"},
               "position_ids": {0: "batch", 1: "sequence_length"},
               "logits": {0: "batch", 1: "sequence_length"}, "hidden_states": {0: "batch", 1: "sequence_length"}}
        past = []
        for i in range(c.num_hidden_layers):
            for kind in ("key", "value"):
                past.append(torch.randn(1, c.num_key_value_heads, p, c.head_dim))
                names_in.append(f"past_key_values.{i}.{kind}")
                names_out.append(f"present.{i}.{kind}")
                dyn[f"past_key_values.{i}.{kind}"] = {0: "batch", 2: "past_sequence_length"}
                dyn[f"present.{i}.{kind}"] = {0: "batch", 2: "total_sequence_length"}
        args = (torch.randn(1, l, d), torch.ones(1, p + l, dtype=torch.long), torch.arange(p, p + l)[None])
        if stream is None:
            ex(Decoder(m), (*args, *past), f"{out}/decoder.onnx", names_in, names_out, dyn, quantize=True)
        else:
            export_decoder_in_parts(m, args, past, out, dyn, stream, quantize_bits)
        ex(Single(m.loc_decoder, "loc_decoder."), (torch.randn(2, d),), f"{out}/box_decoder.onnx", ["hidden_state"], ["box"],
               {"hidden_state": {0: "N"}, "box": {0: "N"}})
        ex(Single(m.loc_encoder, "loc_encoder."), (torch.rand(2, 4),), f"{out}/box_encoder.onnx", ["box"], ["box_embedding"],
               {"box": {0: "N"}, "box_embedding": {0: "N"}})
        ex(Single(m.sam.model.image_encoder, "sam.model.image_encoder."), (torch.randn(1, 3, s.image_size, s.image_size),), f"{out}/mask_encoder.onnx",
               ["mask_pixel_values"], ["image_embeddings"], {})
        ex(MaskDecoder(m), (torch.randn(1, s.prompt_embed_dim, s.grid, s.grid), torch.tensor([[0.2, 0.2, 0.6, 0.7]]),
                                torch.randn(1, d)), f"{out}/mask_decoder.onnx",
               ["image_embeddings", "box", "hidden_state"], ["mask_logits", "mask_score"], {})


def export_decoder_in_parts(m, args, past, out, dyn, stream, quantize_bits):
    """The decoder as prologue + one graph per layer + epilogue, each traced and streamed on its own (tracing
    copies the traced weights: one 7B layer is 0.8 GB in float32, the whole decoder 26 GB), then merged into
    decoder.onnx with one decoder.onnx.data. Names that cross parts ("x{i}", "cos", "sin", "bias") are shared."""
    c = m.config
    seq = {0: "batch", 1: "sequence_length"}
    parts = []
    with torch.no_grad():
        cos, sin, bias = m.decode_prologue(*args)
        path = f"{out}/decoder.part_prologue.onnx"
        export(DecoderPrologue(m), args, path, ["inputs_embeds", "attention_mask", "position_ids"],
               ["cos", "sin", "bias"], {"inputs_embeds": dyn["inputs_embeds"], "attention_mask": dyn["attention_mask"],
                                        "position_ids": dyn["position_ids"], "cos": seq, "sin": seq,
                                        "bias": {0: "batch", 2: "sequence_length", 3: "total_sequence_length"}},
               stream=stream)
        parts.append(path)
        x = args[0]
        for i in range(c.num_hidden_layers):
            xin = "inputs_embeds" if i == 0 else f"x{i}"
            names_in = [xin, "cos", "sin", "bias", f"past_key_values.{i}.key", f"past_key_values.{i}.value"]
            names_out = [f"x{i + 1}", f"present.{i}.key", f"present.{i}.value"]
            d = {xin: seq, f"x{i + 1}": seq, "cos": seq, "sin": seq,
                 "bias": {0: "batch", 2: "sequence_length", 3: "total_sequence_length"}}
            d.update({k: dyn[k] for k in names_in[4:] + names_out[1:]})
            path = f"{out}/decoder.part{i}.onnx"
            export(DecoderLayer(m, i), (x, cos, sin, bias, past[2 * i], past[2 * i + 1]), path, names_in, names_out, d,
                   stream=stream, quantize_bits=quantize_bits)
            parts.append(path)
        path = f"{out}/decoder.part_epilogue.onnx"
        xin = f"x{c.num_hidden_layers}" if c.num_hidden_layers else "inputs_embeds"
        export(DecoderEpilogue(m), (x,), path, [xin], ["logits", "hidden_states"],
               {xin: seq, "logits": seq, "hidden_states": seq}, stream=stream, quantize_bits=quantize_bits)
        parts.append(path)
    outputs = ["logits", "hidden_states"] + [f"present.{i}.{k}" for i in range(c.num_hidden_layers) for k in ("key", "value")]
    merge_parts(parts, f"{out}/decoder.onnx", outputs)


def special_ids(tok_spec):
    ids = {a["content"]: a["id"] for a in tok_spec["added_tokens"]}
    ids.update({k: v for k, v in tok_spec["model"]["vocab"].items() if k in ("<unk>", "<s>", "</s>")})
    return ids


def manifest(c: NextChatConfig, tok_spec, name, parameters):
    ids = special_ids(tok_spec)
    sp = {"unk": ids["<unk>"], "bos": ids["<s>"], "eos": ids["</s>"], "pad": ids["<unk>"]}
    sp.update({k: ids[t] for k, t in NEXTCHAT_TOKENS.items()})
    v, s = c.vision, c.sam
    return {
        "name": name,
        "version": BUNDLE_VERSION,
        "family": "nextchat-pix2emb",
        "parameters": parameters,
        "files": {"vision_encoder": "vision_encoder.onnx", "embed_tokens": "embed_tokens.onnx",
                  "decoder": "decoder.onnx", "box_encoder": "box_encoder.onnx", "box_decoder": "box_decoder.onnx",
                  "mask_encoder": "mask_encoder.onnx", "mask_decoder": "mask_decoder.onnx",
                  "point_head": None, "proposal_head": None, "tokenizer": "tokenizer.json",
                  "tokenizer_config": "tokenizer_config.json", "genai_config": "genai_config.json"},
        "capabilities": {"boxes": True, "user_regions": True, "masks": True, "word_points": False,
                         "dense_captions": False},
        "image": {"size": v.image_size, "channels": "RGB", "layout": "NCHW",
                  "pad": "center", "pad_color": [255, 255, 255], "pad_offset": "floor((side - w) / 2), floor((side - h) / 2)",
                  "resize": "pil_bicubic", "resize_output": "uint8 (PIL rounds and clamps)", "scale": "1/255",
                  "mean": list(CLIP_MEAN), "std": list(CLIP_STD)},
        "mask_image": {"size": s.image_size, "source": "the same center-padded square", "channels": "RGB",
                       "layout": "NCHW", "resize": "pil_bilinear", "resize_output": "uint8 (PIL rounds and clamps)",
                       "scale": "1", "mean": list(SAM_MEAN),
                       "std": list(SAM_STD)},
        "dims": {"hidden": c.hidden_size, "layers": c.num_hidden_layers, "heads": c.num_attention_heads,
                 "kv_heads": c.num_key_value_heads, "head_dim": c.head_dim, "vocab": c.vocab_size,
                 "image_tokens": v.num_patches, "mask_embed_channels": s.prompt_embed_dim,
                 "mask_embed_size": s.grid, "mask_size": 4 * s.grid, "max_seq": c.max_position_embeddings},
        "special_tokens": sp,
        "box": {"format": "x1y1x2y2", "normalized_to": "padded_square_side", "origin": "top_left",
                "padding": "center", "raw": "box_decoder's output is fed unchanged to box_encoder and mask_decoder; "
                "for display order each pair and clip to the image"},
        "mask": {"frame": "padded_square", "threshold": 0.0, "sampling": "cell_centres_bilinear_logits",
                 "input": "mask_decoder(image_embeddings of the image, the box, the hidden state at <at>)"},
        "generation": {"max_new_tokens": MAX_NEW_TOKENS, "stop": [sp["eos"]],
                       "banned": sorted({sp["unk"], sp["bos"], sp["image_patch"], sp["image_start"], sp["image_end"],
                                         sp["boxes"]})},
        "prompt": {"format": "llava_v1", "system": SYSTEM,
                   "template": "{system} USER: {image} {user} ASSISTANT: {answer}</s>USER: {user} ASSISTANT:",
                   "image": "<im_start>, <im_patch> repeated dims.image_tokens times, <im_end>; the <im_patch> rows' "
                            "embeddings are replaced by image_embeds; first user turn only",
                   "bos": True,
                   "tokenize": "the whole prompt string with tokenizer.json (NExT-Chat's added tokens strip the "
                               "spaces around them), <s> first",
                   "user_region": "<boxes> in the user text; its embedding is box_encoder(box)",
                   "answer_region": "phrase <at> <boxes>: box_decoder(hidden state at <at>), then <boxes> is forced "
                                    "with input embedding box_encoder(box)",
                   "position_ids": "0..n-1 over the whole sequence, image rows included"},
    }


def genai_config(c: NextChatConfig, sp):
    """The training exporter's genai_config (same I/O names), for a LLaMA decoder."""
    cfg = SimpleNamespace(max_seq=c.max_position_embeddings, vocab=c.vocab_size, hidden=c.hidden_size,
                          heads=c.num_attention_heads, layers=c.num_hidden_layers, head_dim=c.head_dim)
    ids = {"<user>": sp["bos"], "<end>": sp["eos"], "<pad>": sp["pad"]}
    g = training_export.genai_config(SimpleNamespace(config=cfg), SimpleNamespace(id=ids.__getitem__))
    g["model"]["type"] = "llama"
    g["model"]["decoder"]["num_key_value_heads"] = c.num_key_value_heads
    return g


def load_model(checkpoint_dir, sam_file=None, vision_heads=None, stream=False):
    """stream: the model's structure only (weights neither initialised nor loaded), for streaming export."""
    ck = Checkpoint(checkpoint_dir, sam_file)
    c = ck.model_config(vision_heads)
    if stream:
        with no_init():
            m = NextChat(c)
        # the exporter merges initializers of equal value (all these are zeros or ones) into one; a distinct
        # first element per tensor keeps each its own graph input, at the cost of one touched page per tensor
        with torch.no_grad():
            for i, t in enumerate(list(m.parameters()) + list(m.buffers())):
                t.view(-1)[0] = float(i + 2)
        missing = set(m.state_dict()) - set(ck.keys())
        if missing:
            raise KeyError(f"{len(missing)} tensors missing from the checkpoint, e.g. {sorted(missing)[:5]}")
        return m.eval(), ck
    m = NextChat(c)
    ck.load_into(m)
    unused = set(ck.keys()) - set(m.state_dict())
    if unused:
        raise KeyError(f"{len(unused)} checkpoint tensors have no place in the model, e.g. {sorted(unused)[:5]}")
    ck.close_shards()
    return m.eval(), ck


def read_tokenizer(checkpoint_dir):
    p = os.path.join(checkpoint_dir, "tokenizer.json")
    if not os.path.exists(p):
        raise FileNotFoundError(
            "no tokenizer.json in the checkpoint (NExT-Chat publishes the SentencePiece tokenizer.model): write one "
            "where transformers is installed with AutoTokenizer.from_pretrained(DIR, use_fast=True).save_pretrained(DIR)")
    with open(p, encoding="utf-8") as f:
        return json.load(f)


def import_checkpoint(checkpoint_dir, out, name=None, sam_file=None, vision_heads=None, stream=None, quantize=None):
    """stream None: automatic, on for checkpoints over 1e9 parameters (and always with quantize, which is
    applied while the weights stream)."""
    bits = {"int8": 8, "int4": 4, None: None}[quantize]
    if bits:
        stream = True
    if stream is None:
        ck = Checkpoint(checkpoint_dir, sam_file)
        stream = sum(int(np.prod(ck.shape(k))) for k in ck.keys()) > 1e9
    m, ck = load_model(checkpoint_dir, sam_file, vision_heads, stream)
    spec = read_tokenizer(checkpoint_dir)
    os.makedirs(out, exist_ok=True)
    export_all(m, out, ck if stream else None, bits)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"):
        if os.path.exists(os.path.join(checkpoint_dir, f)):
            shutil.copyfile(os.path.join(checkpoint_dir, f), os.path.join(out, f))
    man = manifest(m.config, spec, name or os.path.basename(os.path.normpath(out)),
                   sum(p.numel() for p in m.parameters()))
    with open(f"{out}/bundle.json", "w") as f:
        json.dump(man, f, indent=1)
    with open(f"{out}/genai_config.json", "w") as f:
        json.dump(genai_config(m.config, man["special_tokens"]), f, indent=1)
    return m, man


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default=None)
    ap.add_argument("--sam-checkpoint", default=None, help="SAM weights when the shards hold no sam.* tensors")
    ap.add_argument("--vision-heads", type=int, default=None, help="CLIP attention heads (default: width / 64)")
    ap.add_argument("--stream", action="store_true", default=None,
                    help="read and write the weights one tensor at a time (automatic above 1e9 parameters)")
    ap.add_argument("--quantize", choices=["int8", "int4"], default=None)
    a = ap.parse_args()
    _, man = import_checkpoint(a.checkpoint, a.out, a.name, a.sam_checkpoint, a.vision_heads, a.stream, a.quantize)
    print(f"wrote {a.out}: {man['parameters']} parameters, contract {man['version']}")


if __name__ == "__main__":
    main()

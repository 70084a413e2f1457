"""Reading a NExT-Chat checkpoint directory as published: config.json, sharded .bin or .safetensors with their
index, the tokenizer files and the SAM weights file. Tensors are read lazily, one at a time, from memory-mapped
shards, so converting a 7B checkpoint never needs all of it in memory at once.
"""
from __future__ import annotations

import json
import os

import torch

from nextchat import NextChatConfig, SamConfig, VisionConfig
from safetensors_io import SafetensorsFile

# buffers older transformers versions saved in state dicts; the rebuilt modules compute them
SKIP_SUFFIXES = (".rotary_emb.inv_freq", "embeddings.position_ids")


def torch_load(path):
    """mmap=True (torch >= 2.1) maps the shard instead of reading it; older torch reads it whole."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except TypeError:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except TypeError:
            return torch.load(path, map_location="cpu")


class Checkpoint:
    def __init__(self, directory, sam_file=None):
        self.dir = directory
        with open(os.path.join(directory, "config.json")) as f:
            self.config = json.load(f)
        self.where = {}  # tensor name -> shard file
        for index, kind in (("model.safetensors.index.json", "st"), ("pytorch_model.bin.index.json", "bin")):
            p = os.path.join(directory, index)
            if os.path.exists(p):
                with open(p) as f:
                    self.where = {k: (kind, v) for k, v in json.load(f)["weight_map"].items()}
                break
        else:
            for single, kind in (("model.safetensors", "st"), ("pytorch_model.bin", "bin")):
                if os.path.exists(os.path.join(directory, single)):
                    self.where = {k: (kind, single) for k in self._keys(kind, single)}
                    break
        if not self.where:
            raise FileNotFoundError(f"no model.safetensors(.index.json) or pytorch_model.bin(.index.json) in {directory}")
        self._open = {}
        self.sam_prefix = "sam.model."
        self.sam_file = None
        if not any(k.startswith(self.sam_prefix) for k in self.where):
            # NExT-Chat loads SAM from config.sam_path when the shards do not hold it (an absolute training-machine
            # path in the published config, so the file name is looked up in the checkpoint directory)
            name = sam_file or os.path.join(directory, os.path.basename(self.config.get("sam_path") or "sam_vit_h_4b8939.pth"))
            if not os.path.exists(name):
                raise FileNotFoundError(f"the shards hold no sam.* weights and the SAM file {name} is missing "
                                        "(pass --sam-checkpoint)")
            self.sam_file = name
            sam = torch_load(name)
            for k in sam:
                self.where[self.sam_prefix + k] = ("sam", name)
            self._open[("sam", name)] = sam

    def _keys(self, kind, name):
        return list(self._file(kind, name).keys())

    def _file(self, kind, name):
        key = (kind, name)
        if key not in self._open and kind == "bin":
            # one .bin shard open at a time: torch < 2.1 cannot map it, so each open one costs its whole size
            self.close_shards()
        if key not in self._open:
            path = os.path.join(self.dir, name)
            self._open[key] = SafetensorsFile(path) if kind == "st" else torch_load(path)
        return self._open[key]

    def close_shards(self):
        """Drops the open .bin shards (each costs its size in memory where torch cannot map it)."""
        self._open = {k: v for k, v in self._open.items() if k[0] != "bin"}

    def keys(self):
        return [k for k in self.where if not k.endswith(SKIP_SUFFIXES)]

    def get(self, name) -> torch.Tensor:
        kind, f = self.where[name]
        obj = self._file(kind, f)
        return obj.get(name) if kind == "st" else obj[name[len(self.sam_prefix):] if kind == "sam" else name]

    def shape(self, name):
        kind, f = self.where[name]
        if kind == "st":
            return tuple(self._file(kind, f).header[name]["shape"])
        return tuple(self.get(name).shape)

    def count(self, prefix):
        n = 0
        while any(k.startswith(f"{prefix}{n}.") for k in self.where):
            n += 1
        return n

    def model_config(self, vision_heads=None, sam_decoder_heads=8) -> NextChatConfig:
        """config.json has the language model; the CLIP tower's and SAM's shapes are read off the weights
        (attention head counts cannot be: CLIP ViT-L/14 has 64-wide heads, SAM's mask decoder 8 heads)."""
        v = "model.vision_tower.vision_model."
        hidden, _, patch, _ = self.shape(v + "embeddings.patch_embedding.weight")
        positions = self.shape(v + "embeddings.position_embedding.weight")[0]
        side = int(round((positions - 1) ** 0.5))
        vision = dict(hidden_size=hidden, intermediate_size=self.shape(v + "encoder.layers.0.mlp.fc1.weight")[0],
                      num_hidden_layers=self.count(v + "encoder.layers."),
                      num_attention_heads=vision_heads or max(1, hidden // 64), image_size=side * patch,
                      patch_size=patch)
        s = self.sam_prefix
        embed, _, sp, _ = self.shape(s + "image_encoder.patch_embed.proj.weight")
        grid = self.shape(s + "image_encoder.pos_embed")[1]
        depth = self.count(s + "image_encoder.blocks.")
        sizes = [(self.shape(f"{s}image_encoder.blocks.{i}.attn.rel_pos_h")[0] + 1) // 2 for i in range(depth)]
        head_dim = self.shape(f"{s}image_encoder.blocks.0.attn.rel_pos_h")[1]
        window = next((z for z in sizes if z != grid), 0)
        md = s + "mask_decoder."
        sam = dict(image_size=grid * sp, patch_size=sp, embed_dim=embed, depth=depth, num_heads=embed // head_dim,
                   window_size=window, global_attn_indexes=[i for i, z in enumerate(sizes) if z == grid],
                   prompt_embed_dim=self.shape(s + "image_encoder.neck.0.weight")[0],
                   mask_in_chans=self.shape(s + "prompt_encoder.mask_downscaling.3.weight")[0],
                   decoder_depth=self.count(md + "transformer.layers."), decoder_heads=sam_decoder_heads,
                   decoder_mlp_dim=self.shape(md + "transformer.layers.0.mlp.lin1.weight")[0],
                   iou_head_hidden_dim=self.shape(md + "iou_prediction_head.layers.0.weight")[0],
                   iou_head_depth=self.count(md + "iou_prediction_head.layers."),
                   num_multimask_outputs=self.shape(md + "mask_tokens.weight")[0] - 1)
        cfg = dict(self.config)
        cfg.setdefault("mm_hidden_size", hidden)
        if "mm_depth" not in cfg:  # a Sequential projector has numbered children
            cfg["mm_depth"] = 2 if any(k.startswith("model.mm_projector.2.") for k in self.where) else 1
        return NextChatConfig.from_checkpoint(cfg, vision, sam)

    def load_into(self, module: torch.nn.Module, prefix=""):
        """Copies the checkpoint's tensors into `module` (names relative to `prefix`), as float32, one at a time;
        every parameter and buffer must be found with its exact shape."""
        own = module.state_dict()
        missing = []
        with torch.no_grad():
            for name, t in own.items():
                full = prefix + name
                if full not in self.where:
                    missing.append(full)
                    continue
                src = self.get(full)
                if tuple(src.shape) != tuple(t.shape):
                    raise ValueError(f"{full}: checkpoint shape {tuple(src.shape)}, model expects {tuple(t.shape)}")
                t.copy_(src.to(t.dtype))
        if missing:
            raise KeyError(f"{len(missing)} tensors missing from the checkpoint, e.g. {missing[:5]}")
        return module

"""Writes a tiny checkpoint in NExT-Chat's published layout (no real weights can be downloaded here):

    /usr/bin/python3 models/import/fabricate_nextchat.py --out /tmp/nextchat-tiny [--format bin|safetensors]

config.json (LlamaConfig + LLaVA/NExT-Chat fields), 3 shards pytorch_model-0000k-of-00003.bin with
pytorch_model.bin.index.json (or model-0000k-of-00003.safetensors with model.safetensors.index.json), the
tokenizer files (tokenizer.json, tokenizer_config.json, special_tokens_map.json, added_tokens.json) and the SAM
weights file named in config.json's sam_path (sam_vit_h_4b8939.pth, segment_anything's key names). Sizes: a
2-layer LLaMA of width 64, a 2-layer CLIP ViT (width 128, 56 px, 14 px patches -> 16 image tokens), a 2-block
SAM (width 32, 128 px -> 8x8 embeddings, one windowed and one global block).
Random weights (deterministic per seed), with three nudges so the fixtures test something: lm_head x6 (logit gaps
well above float error), loc_decoder's output bias mid-image (boxes inside the image), and the <at> row of lm_head
aligned with the mean final hidden state so that greedy answers contain boxes.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_tokenizer import LlamaTokenizer, tokenizer_json, train  # noqa: E402
from nextchat import NextChat, NextChatConfig, SamConfig, VisionConfig  # noqa: E402
from safetensors_io import save_file  # noqa: E402

# NExT-Chat's initialize_vision_tokenizer: <im_patch> first, then the four start/end/at/boxes tokens
ADDED = ["<im_patch>", "<im_start>", "<im_end>", "<at>", "<boxes>"]
SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
          "detailed, and polite answers to the user's questions.")
CORPUS = [SYSTEM, "USER: ASSISTANT:", "where is the dog in the image ? Answer: the dog on the left",
          "what is in this region ? describe the picture briefly . segment the red car",
          "please find the person and the bicycle , a man riding a bike near a tree"]
SAM_FILE = "sam_vit_h_4b8939.pth"


def tiny_config(vocab):
    return NextChatConfig(
        hidden_size=64, intermediate_size=172, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
        vocab_size=vocab, max_position_embeddings=256, mm_depth=2, mm_hidden_size=128, mm_vision_select_layer=-2,
        vision=VisionConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
                            image_size=56, patch_size=14),
        sam=SamConfig(image_size=128, patch_size=16, embed_dim=32, depth=2, num_heads=2, window_size=4,
                      global_attn_indexes=[1], prompt_embed_dim=32, mask_in_chans=16, decoder_depth=2,
                      decoder_heads=8, decoder_mlp_dim=64, iou_head_hidden_dim=32, iou_head_depth=3))


def config_json(c: NextChatConfig, tok_ids):
    """NExT-Chat's config.json: LlamaConfig's fields plus what LLaVA/NExT-Chat's training code writes into it."""
    return {
        "_name_or_path": "nextchat-tiny-fabricated", "architectures": ["NextChatForSegLM"], "model_type": "nextchat",
        "bos_token_id": tok_ids["<s>"], "eos_token_id": tok_ids["</s>"], "pad_token_id": tok_ids["<unk>"],
        "hidden_act": "silu", "hidden_size": c.hidden_size, "initializer_range": 0.02,
        "intermediate_size": c.intermediate_size, "max_position_embeddings": c.max_position_embeddings,
        "max_sequence_length": c.max_position_embeddings,
        "mm_depth": c.mm_depth, "mm_hidden_size": c.mm_hidden_size, "mm_use_im_start_end": True,
        "mm_vision_select_layer": c.mm_vision_select_layer, "mm_vision_tower": "openai/clip-vit-large-patch14-336",
        "num_attention_heads": c.num_attention_heads, "num_hidden_layers": c.num_hidden_layers,
        "num_key_value_heads": c.num_key_value_heads, "pretraining_tp": 1, "rms_norm_eps": c.rms_norm_eps,
        "rope_scaling": None, "sam_path": SAM_FILE, "sep_image_conv_front": False, "tie_word_embeddings": False,
        "torch_dtype": "float16", "transformers_version": "4.31.0", "tune_mm_mlp_adapter": False,
        "freeze_mm_mlp_adapter": False, "use_cache": False, "use_mm_proj": True, "vocab_size": c.vocab_size,
    }


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name or "layer_norm" in name or ".norm" in name:
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g) if p.dim() == 1 else p)
            else:
                p.copy_(0.08 * torch.randn(p.shape, generator=g))
        for name, b in model.named_buffers():
            if b.is_floating_point():
                b.copy_(torch.randn(b.shape, generator=g))
        # boxes around the middle of the image (random ones sit at 0 and are clipped away, which would hide
        # any difference between runtimes)
        model.loc_decoder[2].weight.mul_(0.5)
        # wider logit gaps than HF's init: greedy picks then do not hinge on float rounding between runtimes
        model.lm_head.weight.mul_(6.0)
        model.loc_decoder[2].bias.copy_(torch.tensor([0.25, 0.3, 0.7, 0.75]))


def plant_at(model, tok, fraction=0.5):
    """Scales lm_head's <at> row along the mean final hidden state so that greedy decoding writes <at> at about
    `fraction` of the steps of a text prompt: with random weights it would otherwise never produce a box."""
    at = tok.vocab["<at>"]
    ids = torch.tensor([tok.encode(SYSTEM + " USER: where is the dog ? ASSISTANT:")])
    with torch.no_grad():
        emb = model.model.embed_tokens(ids)
        logits, hidden, _ = model.decode(emb, torch.ones(ids.shape, dtype=torch.long), torch.arange(ids.shape[1])[None])
        m = hidden[0].mean(0)
        direction = m / m.norm()
        proj = hidden[0] @ direction
        others = logits[0].clone()
        others[:, at] = -1e9
        best = others.max(-1).values
        # smallest scale at which <at> wins at `fraction` of the positions
        need = (best / proj.clamp(min=1e-3)).sort().values
        scale = float(need[int(fraction * (len(need) - 1))]) + 1e-2
        model.lm_head.weight[at] = direction * scale


def shard(state, n):
    keys = list(state)
    per = (len(keys) + n - 1) // n
    return [keys[i * per:(i + 1) * per] for i in range(n)]


def write(out, fmt="bin", seed=0, shards=3, sam_in_shards=True, dtype=torch.float16):
    os.makedirs(out, exist_ok=True)
    vocab, merges = train(CORPUS, 60, ADDED)
    spec = tokenizer_json(vocab, merges, ADDED)
    tok = LlamaTokenizer(spec)
    c = tiny_config(len(vocab))
    torch.manual_seed(seed)
    model = NextChat(c)
    randomize(model, seed)
    plant_at(model, tok)
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    # transformers 4.31 (NExT-Chat's) saved these buffers; the importer must skip them
    for i in range(c.num_hidden_layers):
        inv = 1.0 / (c.rope_theta ** (torch.arange(0, c.head_dim, 2).float() / c.head_dim))
        state[f"model.layers.{i}.self_attn.rotary_emb.inv_freq"] = inv
    state["model.vision_tower.vision_model.embeddings.position_ids"] = torch.arange(c.vision.num_patches + 1)[None]
    # segment_anything's file is float32 (the original SAM release)
    sam_state = {k[len("sam.model."):]: v.float() for k, v in model.state_dict().items() if k.startswith("sam.model.")}
    torch.save(sam_state, os.path.join(out, SAM_FILE))
    if not sam_in_shards:
        state = {k: v for k, v in state.items() if not k.startswith("sam.")}
    groups = shard(state, shards)
    weight_map, total = {}, 0
    for i, keys in enumerate(groups):
        part = {k: state[k].contiguous() for k in keys}
        total += sum(t.numel() * t.element_size() for t in part.values())
        if fmt == "bin":
            name = f"pytorch_model-{i + 1:05d}-of-{shards:05d}.bin"
            torch.save(part, os.path.join(out, name))
        else:
            name = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
            save_file(part, os.path.join(out, name), metadata={"format": "pt"})
        weight_map.update({k: name for k in keys})
    index = "pytorch_model.bin.index.json" if fmt == "bin" else "model.safetensors.index.json"
    with open(os.path.join(out, index), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    ids = tok.vocab
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config_json(c, ids), f, indent=2)
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(spec, f, ensure_ascii=False, indent=1)
    with open(os.path.join(out, "added_tokens.json"), "w") as f:
        json.dump({t: ids[t] for t in ADDED}, f, indent=2)
    with open(os.path.join(out, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<unk>"}, f, indent=2)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "LlamaTokenizer", "model_max_length": 2048, "padding_side": "right",
                   "add_bos_token": True, "add_eos_token": False, "legacy": True, "clean_up_tokenization_spaces": False,
                   "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": None}, f, indent=2)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--format", choices=["bin", "safetensors"], default="bin")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sam-outside-shards", action="store_true",
                    help="leave sam.* out of the shards (the importer then reads the SAM weights file)")
    a = ap.parse_args()
    write(a.out, a.format, a.seed, sam_in_shards=not a.sam_outside_shards)
    print("wrote", a.out)


if __name__ == "__main__":
    main()

"""NExT-Chat (pix2emb) in plain PyTorch, with the attribute names of the published checkpoint, so that its
state dict loads with strict key and shape checks and no `transformers` or `segment_anything` import.

Layout (NExT-ChatV/NExT-Chat, mllm/models/nextchat/nextchat_base.py and nextchat_seg.py; LLaVA's
LlamaForCausalLM + CLIPVisionModel naming; segment_anything's Sam):
  model.embed_tokens, model.layers.{i}.{self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj, input_layernorm,
  post_attention_layernorm}, model.norm, lm_head                                    LLaMA / Vicuna
  model.vision_tower.vision_model.{embeddings, pre_layrnorm, encoder.layers.{i}, post_layernorm}   CLIP ViT
  model.mm_projector (Linear, or Sequential Linear-GELU-Linear with mm_depth 2)
  loc_encoder.{0,2} (4 -> D/2 -> D), loc_decoder.{0,2} (D -> D/2 -> 4)                  pix2emb
  seg_prompt_mlp.{0,2} (D -> D -> 4 * prompt_dim)                                       SAM prompt tokens
  sam.model.{image_encoder, prompt_encoder, mask_decoder}                               SAM
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SAM_MEAN = (123.675, 116.28, 103.53)
SAM_STD = (58.395, 57.12, 57.375)


# ---------------------------------------------------------------------------------------------- configs
@dataclass
class VisionConfig:
    hidden_size: int = 1024
    intermediate_size: int = 4096
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    image_size: int = 336
    patch_size: int = 14
    layer_norm_eps: float = 1e-5
    hidden_act: str = "quick_gelu"

    @property
    def num_patches(self):
        return (self.image_size // self.patch_size) ** 2


@dataclass
class SamConfig:
    """segment_anything's build_sam_vit_h: 1280 wide, 32 blocks, 16 heads, global attention at 7/15/23/31."""
    image_size: int = 1024
    patch_size: int = 16
    embed_dim: int = 1280
    depth: int = 32
    num_heads: int = 16
    window_size: int = 14
    global_attn_indexes: list = field(default_factory=lambda: [7, 15, 23, 31])
    prompt_embed_dim: int = 256
    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_heads: int = 8
    decoder_mlp_dim: int = 2048
    iou_head_hidden_dim: int = 256
    iou_head_depth: int = 3
    num_multimask_outputs: int = 3

    @property
    def grid(self):
        return self.image_size // self.patch_size


@dataclass
class NextChatConfig:
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int = 32
    vocab_size: int = 32005
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    max_position_embeddings: int = 2048
    mm_depth: int = 1
    mm_hidden_size: int = 1024
    mm_vision_select_layer: int = -2
    vision: VisionConfig = field(default_factory=VisionConfig)
    sam: SamConfig = field(default_factory=SamConfig)

    @property
    def head_dim(self):
        return self.hidden_size // self.num_attention_heads

    @staticmethod
    def from_checkpoint(cfg: dict, vision: dict | None = None, sam: dict | None = None) -> "NextChatConfig":
        """cfg: the checkpoint's config.json (LlamaConfig fields + LLaVA/NExT-Chat ones). The vision tower's and
        SAM's shapes are not in config.json (NExT-Chat loads them from `mm_vision_tower` and `sam_path`), so they
        come from the caller (read off the weights by `infer_vision_sam`)."""
        c = NextChatConfig(
            hidden_size=cfg["hidden_size"], intermediate_size=cfg["intermediate_size"],
            num_hidden_layers=cfg["num_hidden_layers"], num_attention_heads=cfg["num_attention_heads"],
            num_key_value_heads=cfg.get("num_key_value_heads") or cfg["num_attention_heads"],
            vocab_size=cfg["vocab_size"], rms_norm_eps=cfg.get("rms_norm_eps", 1e-6),
            rope_theta=cfg.get("rope_theta", 10000.0),
            max_position_embeddings=cfg.get("max_position_embeddings", 2048),
            mm_depth=cfg.get("mm_depth", 1) or 1, mm_hidden_size=cfg.get("mm_hidden_size", 1024),
            mm_vision_select_layer=cfg.get("mm_vision_select_layer", -2))
        if vision:
            c.vision = VisionConfig(**vision)
        if sam:
            c.sam = SamConfig(**sam)
        return c


# ---------------------------------------------------------------------------------------------- LLaMA
class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


def rope(position_ids, head_dim, theta):
    """HF LLaMA's rotary tables for the given positions: [N, L, head_dim] cos and sin (halves concatenated)."""
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = position_ids.to(torch.float32).unsqueeze(-1) * inv
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class LlamaAttention(nn.Module):
    def __init__(self, c: NextChatConfig):
        super().__init__()
        self.h, self.kv, self.d = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        self.q_proj = nn.Linear(c.hidden_size, self.h * self.d, bias=False)
        self.k_proj = nn.Linear(c.hidden_size, self.kv * self.d, bias=False)
        self.v_proj = nn.Linear(c.hidden_size, self.kv * self.d, bias=False)
        self.o_proj = nn.Linear(self.h * self.d, c.hidden_size, bias=False)

    def forward(self, x, cos, sin, bias, past_k=None, past_v=None):
        n, l, _ = x.shape
        q = self.q_proj(x).view(n, l, self.h, self.d).transpose(1, 2)
        k = self.k_proj(x).view(n, l, self.kv, self.d).transpose(1, 2)
        v = self.v_proj(x).view(n, l, self.kv, self.d).transpose(1, 2)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if past_k is not None:
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        kk, vv = k, v
        if self.kv != self.h:  # grouped-query checkpoints (not LLaMA-1/Vicuna-7B, kept for completeness)
            kk = k.repeat_interleave(self.h // self.kv, dim=1)
            vv = v.repeat_interleave(self.h // self.kv, dim=1)
        att = (q @ kk.transpose(-1, -2)) / math.sqrt(self.d) + bias
        y = torch.softmax(att, dim=-1) @ vv
        return self.o_proj(y.transpose(1, 2).reshape(n, l, self.h * self.d)), k, v


class LlamaMLP(nn.Module):
    def __init__(self, c: NextChatConfig):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaLayer(nn.Module):
    def __init__(self, c: NextChatConfig):
        super().__init__()
        self.self_attn = LlamaAttention(c)
        self.mlp = LlamaMLP(c)
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)

    def forward(self, x, cos, sin, bias, past_k=None, past_v=None):
        a, k, v = self.self_attn(self.input_layernorm(x), cos, sin, bias, past_k, past_v)
        x = x + a
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x, k, v


# ---------------------------------------------------------------------------------------------- CLIP ViT
class ClipEmbeddings(nn.Module):
    def __init__(self, v: VisionConfig):
        super().__init__()
        self.class_embedding = nn.Parameter(torch.zeros(v.hidden_size))
        self.patch_embedding = nn.Conv2d(3, v.hidden_size, v.patch_size, v.patch_size, bias=False)
        self.position_embedding = nn.Embedding(v.num_patches + 1, v.hidden_size)

    def forward(self, pixel_values):
        x = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
        cls = self.class_embedding.view(1, 1, -1).expand(x.shape[0], 1, -1)
        return torch.cat([cls, x], dim=1) + self.position_embedding.weight.unsqueeze(0)


class ClipAttention(nn.Module):
    def __init__(self, v: VisionConfig):
        super().__init__()
        self.h, self.d = v.num_attention_heads, v.hidden_size // v.num_attention_heads
        self.k_proj = nn.Linear(v.hidden_size, v.hidden_size)
        self.v_proj = nn.Linear(v.hidden_size, v.hidden_size)
        self.q_proj = nn.Linear(v.hidden_size, v.hidden_size)
        self.out_proj = nn.Linear(v.hidden_size, v.hidden_size)

    def forward(self, x):
        n, l, w = x.shape
        q = (self.q_proj(x) * self.d ** -0.5).view(n, l, self.h, self.d).transpose(1, 2)
        k = self.k_proj(x).view(n, l, self.h, self.d).transpose(1, 2)
        v = self.v_proj(x).view(n, l, self.h, self.d).transpose(1, 2)
        y = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v
        return self.out_proj(y.transpose(1, 2).reshape(n, l, w))


class ClipMLP(nn.Module):
    def __init__(self, v: VisionConfig):
        super().__init__()
        self.fc1 = nn.Linear(v.hidden_size, v.intermediate_size)
        self.fc2 = nn.Linear(v.intermediate_size, v.hidden_size)
        self.act = v.hidden_act

    def forward(self, x):
        x = self.fc1(x)
        x = x * torch.sigmoid(1.702 * x) if self.act == "quick_gelu" else F.gelu(x)
        return self.fc2(x)


class ClipLayer(nn.Module):
    def __init__(self, v: VisionConfig):
        super().__init__()
        self.self_attn = ClipAttention(v)
        self.layer_norm1 = nn.LayerNorm(v.hidden_size, eps=v.layer_norm_eps)
        self.mlp = ClipMLP(v)
        self.layer_norm2 = nn.LayerNorm(v.hidden_size, eps=v.layer_norm_eps)

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class ClipEncoder(nn.Module):
    def __init__(self, v: VisionConfig):
        super().__init__()
        self.layers = nn.ModuleList([ClipLayer(v) for _ in range(v.num_hidden_layers)])


class ClipVisionTransformer(nn.Module):
    def __init__(self, v: VisionConfig):
        super().__init__()
        self.embeddings = ClipEmbeddings(v)
        self.pre_layrnorm = nn.LayerNorm(v.hidden_size, eps=v.layer_norm_eps)  # sic: HF's spelling
        self.encoder = ClipEncoder(v)
        self.post_layernorm = nn.LayerNorm(v.hidden_size, eps=v.layer_norm_eps)

    def select(self, pixel_values, select_layer):
        """HF's hidden_states[select_layer] (index 0 = the pre-normed embeddings): LLaVA takes -2, the input of
        the last block, and drops the CLS row; post_layernorm is never used."""
        n_layers = len(self.encoder.layers)
        upto = select_layer % (n_layers + 1)
        x = self.pre_layrnorm(self.embeddings(pixel_values))
        for layer in self.encoder.layers[:upto]:
            x = layer(x)
        return x[:, 1:]


class ClipVisionModel(nn.Module):
    def __init__(self, v: VisionConfig):
        super().__init__()
        self.vision_model = ClipVisionTransformer(v)


# ---------------------------------------------------------------------------------------------- SAM
class LayerNorm2d(nn.Module):
    def __init__(self, c, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.eps = eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class PatchEmbed(nn.Module):
    def __init__(self, s: SamConfig):
        super().__init__()
        self.proj = nn.Conv2d(3, s.embed_dim, s.patch_size, s.patch_size)

    def forward(self, x):
        return self.proj(x).permute(0, 2, 3, 1)


class SamMLPBlock(nn.Module):
    def __init__(self, d, hidden, act):
        super().__init__()
        self.lin1 = nn.Linear(d, hidden)
        self.lin2 = nn.Linear(hidden, d)
        self.act = act

    def forward(self, x):
        return self.lin2(self.act(self.lin1(x)))


def rel_pos_table(q_size, k_size, rel_pos):
    """segment_anything get_rel_pos for the case the checkpoint was trained at (no resize of the table)."""
    q_coords = torch.arange(q_size)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size)[None, :] * max(q_size / k_size, 1.0)
    rel = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return rel_pos[rel.long()]


class SamViTAttention(nn.Module):
    def __init__(self, s: SamConfig, input_size):
        super().__init__()
        self.h = s.num_heads
        hd = s.embed_dim // s.num_heads
        self.scale = hd ** -0.5
        self.qkv = nn.Linear(s.embed_dim, 3 * s.embed_dim)
        self.proj = nn.Linear(s.embed_dim, s.embed_dim)
        self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size - 1, hd))
        self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size - 1, hd))

    def forward(self, x):
        b, hh, ww, _ = x.shape
        qkv = self.qkv(x).reshape(b, hh * ww, 3, self.h, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, b * self.h, hh * ww, -1).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        rh, rw = rel_pos_table(hh, hh, self.rel_pos_h), rel_pos_table(ww, ww, self.rel_pos_w)
        r_q = q.reshape(b * self.h, hh, ww, -1)
        rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, rh)
        rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, rw)
        attn = (attn.view(b * self.h, hh, ww, hh, ww) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]
                ).view(b * self.h, hh * ww, hh * ww)
        attn = attn.softmax(dim=-1)
        x = (attn @ v).view(b, self.h, hh, ww, -1).permute(0, 2, 3, 1, 4).reshape(b, hh, ww, -1)
        return self.proj(x)


class SamBlock(nn.Module):
    def __init__(self, s: SamConfig, window):
        super().__init__()
        self.norm1 = nn.LayerNorm(s.embed_dim, eps=1e-6)
        self.attn = SamViTAttention(s, window if window > 0 else s.grid)
        self.norm2 = nn.LayerNorm(s.embed_dim, eps=1e-6)
        self.mlp = SamMLPBlock(s.embed_dim, 4 * s.embed_dim, nn.GELU())
        self.window = window

    def forward(self, x):
        shortcut = x
        x = self.norm1(x)
        if self.window > 0:
            b, h, w, c = x.shape
            ws = self.window
            ph, pw = (ws - h % ws) % ws, (ws - w % ws) % ws
            if ph or pw:
                x = F.pad(x, (0, 0, 0, pw, 0, ph))
            hp, wp = h + ph, w + pw
            x = x.view(b, hp // ws, ws, wp // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws, ws, c)
            x = self.attn(x)
            x = x.view(b, hp // ws, wp // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
            x = x[:, :h, :w, :]
        else:
            x = self.attn(x)
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class SamImageEncoder(nn.Module):
    def __init__(self, s: SamConfig):
        super().__init__()
        self.patch_embed = PatchEmbed(s)
        self.pos_embed = nn.Parameter(torch.zeros(1, s.grid, s.grid, s.embed_dim))
        self.blocks = nn.ModuleList([SamBlock(s, 0 if i in s.global_attn_indexes else s.window_size)
                                     for i in range(s.depth)])
        self.neck = nn.Sequential(nn.Conv2d(s.embed_dim, s.prompt_embed_dim, 1, bias=False),
                                  LayerNorm2d(s.prompt_embed_dim),
                                  nn.Conv2d(s.prompt_embed_dim, s.prompt_embed_dim, 3, padding=1, bias=False),
                                  LayerNorm2d(s.prompt_embed_dim))

    def forward(self, x):
        x = self.patch_embed(x) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.neck(x.permute(0, 3, 1, 2))


class PositionEmbeddingRandom(nn.Module):
    def __init__(self, num_pos_feats):
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn(2, num_pos_feats))

    def encode(self, coords):
        coords = (2 * coords - 1) @ self.positional_encoding_gaussian_matrix
        coords = 2 * math.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def grid(self, h, w):
        y = (torch.arange(h, dtype=torch.float32) + 0.5) / h
        x = (torch.arange(w, dtype=torch.float32) + 0.5) / w
        coords = torch.stack([x[None, :].expand(h, w), y[:, None].expand(h, w)], dim=-1)
        return self.encode(coords).permute(2, 0, 1)


class SamPromptEncoder(nn.Module):
    def __init__(self, s: SamConfig):
        super().__init__()
        d, m = s.prompt_embed_dim, s.mask_in_chans
        self.s = s
        self.pe_layer = PositionEmbeddingRandom(d // 2)
        self.point_embeddings = nn.ModuleList([nn.Embedding(1, d) for _ in range(4)])
        self.not_a_point_embed = nn.Embedding(1, d)
        self.mask_downscaling = nn.Sequential(nn.Conv2d(1, m // 4, 2, 2), LayerNorm2d(m // 4), nn.GELU(),
                                              nn.Conv2d(m // 4, m, 2, 2), LayerNorm2d(m), nn.GELU(),
                                              nn.Conv2d(m, d, 1))
        self.no_mask_embed = nn.Embedding(1, d)

    def embed_boxes(self, boxes_px):
        """boxes in SAM input pixels [N, 4] -> two corner tokens [N, 2, d] (SAM: +0.5 to the pixel centre)."""
        coords = (boxes_px + 0.5).reshape(-1, 2, 2) / self.s.image_size
        corners = self.pe_layer.encode(coords)
        return torch.stack([corners[:, 0] + self.point_embeddings[2].weight[0],
                            corners[:, 1] + self.point_embeddings[3].weight[0]], dim=1)

    def dense_pe(self):
        return self.pe_layer.grid(self.s.grid, self.s.grid).unsqueeze(0)


class SamAttention(nn.Module):
    def __init__(self, d, heads, downsample=1):
        super().__init__()
        inner = d // downsample
        self.h = heads
        self.q_proj, self.k_proj = nn.Linear(d, inner), nn.Linear(d, inner)
        self.v_proj, self.out_proj = nn.Linear(d, inner), nn.Linear(inner, d)

    def forward(self, q, k, v):
        def split(x):
            b, n, c = x.shape
            return x.reshape(b, n, self.h, c // self.h).transpose(1, 2)
        q, k, v = split(self.q_proj(q)), split(self.k_proj(k)), split(self.v_proj(v))
        attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
        out = (attn @ v).transpose(1, 2)
        return self.out_proj(out.reshape(out.shape[0], out.shape[1], -1))


class TwoWayBlock(nn.Module):
    def __init__(self, s: SamConfig, skip_first_layer_pe):
        super().__init__()
        d = s.prompt_embed_dim
        self.self_attn = SamAttention(d, s.decoder_heads)
        self.norm1 = nn.LayerNorm(d)
        self.cross_attn_token_to_image = SamAttention(d, s.decoder_heads, 2)
        self.norm2 = nn.LayerNorm(d)
        self.mlp = SamMLPBlock(d, s.decoder_mlp_dim, nn.ReLU())
        self.norm3 = nn.LayerNorm(d)
        self.norm4 = nn.LayerNorm(d)
        self.cross_attn_image_to_token = SamAttention(d, s.decoder_heads, 2)
        self.skip = skip_first_layer_pe

    def forward(self, queries, keys, query_pe, key_pe):
        if self.skip:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)
        q, k = queries + query_pe, keys + key_pe
        queries = self.norm2(queries + self.cross_attn_token_to_image(q, k, keys))
        queries = self.norm3(queries + self.mlp(queries))
        q, k = queries + query_pe, keys + key_pe
        keys = self.norm4(keys + self.cross_attn_image_to_token(k, q, queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    def __init__(self, s: SamConfig):
        super().__init__()
        self.layers = nn.ModuleList([TwoWayBlock(s, i == 0) for i in range(s.decoder_depth)])
        self.final_attn_token_to_image = SamAttention(s.prompt_embed_dim, s.decoder_heads, 2)
        self.norm_final_attn = nn.LayerNorm(s.prompt_embed_dim)

    def forward(self, image, image_pe, tokens):
        keys = image.flatten(2).permute(0, 2, 1)
        key_pe = image_pe.flatten(2).permute(0, 2, 1)
        queries = tokens
        for layer in self.layers:
            queries, keys = layer(queries, keys, tokens, key_pe)
        q, k = queries + tokens, keys + key_pe
        queries = self.norm_final_attn(queries + self.final_attn_token_to_image(q, k, keys))
        return queries, keys


class SamMLP(nn.Module):
    def __init__(self, d_in, hidden, d_out, n):
        super().__init__()
        dims = [d_in] + [hidden] * (n - 1)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, [hidden] * (n - 1) + [d_out]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class SamMaskDecoder(nn.Module):
    def __init__(self, s: SamConfig):
        super().__init__()
        d = s.prompt_embed_dim
        self.num_mask_tokens = s.num_multimask_outputs + 1
        self.transformer = TwoWayTransformer(s)
        self.iou_token = nn.Embedding(1, d)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, d)
        self.output_upscaling = nn.Sequential(nn.ConvTranspose2d(d, d // 4, 2, 2), LayerNorm2d(d // 4), nn.GELU(),
                                              nn.ConvTranspose2d(d // 4, d // 8, 2, 2), nn.GELU())
        self.output_hypernetworks_mlps = nn.ModuleList([SamMLP(d, d, d // 8, 3) for _ in range(self.num_mask_tokens)])
        self.iou_prediction_head = SamMLP(d, s.iou_head_hidden_dim, self.num_mask_tokens, s.iou_head_depth)

    def forward(self, image_embeddings, image_pe, sparse, dense):
        """multimask_output=False (NExT-Chat's call): the first mask token's mask and IoU."""
        out_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        tokens = torch.cat([out_tokens.unsqueeze(0).expand(sparse.shape[0], -1, -1), sparse], dim=1)
        src = image_embeddings + dense
        b, c, h, w = src.shape
        hs, src = self.transformer(src, image_pe, tokens)
        iou_out, mask_out = hs[:, 0], hs[:, 1:1 + self.num_mask_tokens]
        up = self.output_upscaling(src.transpose(1, 2).reshape(b, c, h, w))
        hyper = torch.stack([mlp(mask_out[:, i]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1)
        bu, cu, hu, wu = up.shape
        masks = (hyper @ up.view(bu, cu, hu * wu)).view(bu, -1, hu, wu)
        iou = self.iou_prediction_head(iou_out)
        return masks[:, 0], iou[:, 0]


class Sam(nn.Module):
    def __init__(self, s: SamConfig):
        super().__init__()
        self.image_encoder = SamImageEncoder(s)
        self.prompt_encoder = SamPromptEncoder(s)
        self.mask_decoder = SamMaskDecoder(s)


class SamForLMSeg(nn.Module):
    def __init__(self, s: SamConfig):
        super().__init__()
        self.model = Sam(s)


# ---------------------------------------------------------------------------------------------- NExT-Chat
class NextChatLlamaModel(nn.Module):
    def __init__(self, c: NextChatConfig):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList([LlamaLayer(c) for _ in range(c.num_hidden_layers)])
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.vision_tower = ClipVisionModel(c.vision)
        if c.mm_depth <= 1:
            self.mm_projector = nn.Linear(c.mm_hidden_size, c.hidden_size)
        else:
            mods = [nn.Linear(c.mm_hidden_size, c.hidden_size)]
            for _ in range(1, c.mm_depth):
                mods += [nn.GELU(), nn.Linear(c.hidden_size, c.hidden_size)]
            self.mm_projector = nn.Sequential(*mods)


class NextChat(nn.Module):
    """NextChatForSegLM's parameters; forward pieces are the bundle's ONNX parts."""

    def __init__(self, c: NextChatConfig):
        super().__init__()
        self.config = c
        self.model = NextChatLlamaModel(c)
        self.lm_head = nn.Linear(c.hidden_size, c.vocab_size, bias=False)
        d = c.hidden_size
        self.loc_encoder = nn.Sequential(nn.Linear(4, d // 2), nn.ReLU(), nn.Linear(d // 2, d))
        self.loc_decoder = nn.Sequential(nn.Linear(d, d // 2), nn.ReLU(), nn.Linear(d // 2, 4))
        p = c.sam.prompt_embed_dim
        self.seg_prompt_mlp = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, p * 4))
        self.sam = SamForLMSeg(c.sam)

    # the bundle's parts -------------------------------------------------------------------------------
    def image_embeds(self, pixel_values):
        f = self.model.vision_tower.vision_model.select(pixel_values, self.config.mm_vision_select_layer)
        return self.model.mm_projector(f)

    def decode(self, inputs_embeds, attention_mask, position_ids, past=None):
        """One decoder call with GenAI's conventions: attention_mask [N, P+L], past list of (k, v)."""
        cos, sin, bias = self.decode_prologue(inputs_embeds, attention_mask, position_ids)
        x = inputs_embeds
        presents = []
        for i, layer in enumerate(self.model.layers):
            pk, pv = past[i] if past is not None else (None, None)
            x, k, v = layer(x, cos, sin, bias, pk, pv)
            presents.append((k, v))
        hidden = self.model.norm(x)  # HF's last hidden_states entry (NExT-Chat's loc input) is after the norm
        return self.lm_head(hidden), hidden, presents

    def box_decoder(self, hidden_state):
        return self.loc_decoder(hidden_state)

    def box_encoder(self, box):
        return self.loc_encoder(box)

    def mask_image_embeddings(self, sam_pixel_values):
        return self.sam.model.image_encoder(sam_pixel_values)

    def mask_decoder(self, image_embeddings, box, hidden_state):
        return mask_decode(self.seg_prompt_mlp, self.sam.model.prompt_encoder, self.sam.model.mask_decoder,
                           self.config.sam, image_embeddings, box, hidden_state)

    def decode_prologue(self, inputs_embeds, attention_mask, position_ids):
        """What every layer shares: the causal + padding bias over P+L keys and the rotary tables."""
        n, l, _ = inputs_embeds.shape
        total = attention_mask.shape[1]
        p = total - l
        qi = torch.arange(l).view(l, 1) + p
        kj = torch.arange(total).view(1, total)
        allowed = (kj <= qi).view(1, 1, l, total) & (attention_mask.view(n, 1, 1, total) > 0)
        # a large finite negative (not -inf): a fully masked row stays finite in fp32 and fp16
        bias = torch.zeros(allowed.shape, dtype=inputs_embeds.dtype).masked_fill(~allowed, -3.0e4)
        cos, sin = rope(position_ids, self.config.head_dim, self.config.rope_theta)
        return cos, sin, bias


def mask_decode(seg_prompt_mlp, pe, sam_mask_decoder, s: SamConfig, image_embeddings, box, hidden_state):
    """NExT-Chat's mask path: SAM's box prompt (the decoded box in SAM pixels) followed by
    seg_prompt_mlp(<at> hidden state) as 4 extra sparse tokens, no dense mask prompt, one mask."""
    box_tokens = pe.embed_boxes(box * s.image_size)
    prompt = seg_prompt_mlp(hidden_state).view(hidden_state.shape[0], -1, s.prompt_embed_dim)
    sparse = torch.cat([box_tokens, prompt], dim=1)
    dense = pe.no_mask_embed.weight.view(1, -1, 1, 1)
    return sam_mask_decoder(image_embeddings, pe.dense_pe(), sparse, dense)

"""The pix2emb grounding model (NExT-Chat style, small enough to train on a CPU).

Parts, each exported as its own ONNX file:
- VisionEncoder: CNN -> image tokens (8x8 grid, projected to the decoder width, with 2-D positions) for the
  language model, a finer 16x16 grid of location keys for the location heads, and a stride-4 feature map for the
  mask decoder, the proposal head and the region features of the box encoder.
- Decoder: GPT-style decoder-only transformer with a KV cache; returns logits and the last hidden state.
- BoxDecoder: hidden state at <at> queries the 16x16 location keys -> box (x1,y1,x2,y2 normalized to the padded square).
- BoxEncoder: box + features pooled from the feature map inside it (Ferret-style) -> input embedding of a <boxes>
  slot (model-made and user-drawn boxes alike).
- MaskDecoder: samples the feature map on a grid over the box's crop frame, conditions it on the location
  embedding (FiLM) and predicts mask logits on that grid, plus a mask quality score.
- PointHead: hidden state of a word -> a point on the object the word names (per-word alignment).
- ProposalHead: dense objectness + box per feature cell (CenterNet-like) for dense captioning.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


CELL_COLORS = ["red", "orange", "yellow", "green", "blue", "purple", "white", "black"]
CELL_SHAPES = ["circle", "square", "triangle", "star", "hexagon", "diamond"]
CELL_SIZES = ["small", "medium", "large"]


@dataclass
class ModelConfig:
    vocab: int = 80
    hidden: int = 192
    layers: int = 4
    heads: int = 4
    max_seq: int = 320
    image_size: int = 128
    image_grid: int = 8  # image tokens = grid * grid
    feature_channels: int = 48
    feature_size: int = 32  # stride-4 feature map
    mask_size: int = 32  # mask logits grid over the crop frame
    mask_crop_expand: float = 0.25
    proposal_grid: int = 16
    location_grid: int = 16  # location keys = grid * grid, from the stride-8 stage
    region_samples: int = 4  # box encoder pools region_samples^2 feature-map samples inside the box
    object_tokens: int = 0  # object-level image tokens after the grid tokens (0 = grid tokens only)
    object_threshold: float = 0.3  # proposal score that makes an object token
    object_nms_iou: float = 0.5
    object_pointer: bool = False  # the box decoder may pick an object token's box (rows after the location keys)
    spatial_pointer: bool = False  # the pointer also scores where each object is relative to an anchor / its group
    spatial_gate: bool = False  # the spatial terms count only for members of the named group (e12 on)

    @property
    def head_dim(self):
        return self.hidden // self.heads

    @property
    def grid_tokens(self):
        return self.image_grid * self.image_grid

    @property
    def image_tokens(self):
        """Rows of image_embeds, spliced into the prompt at <image>: the grid tokens, then the object tokens."""
        return self.grid_tokens + self.object_tokens

    @property
    def location_tokens(self):
        return self.location_grid * self.location_grid

    @property
    def key_rows(self):
        """Rows of box_keys / point_keys: the location keys, then one pointer row per object token."""
        return self.location_tokens + (self.object_tokens if self.object_pointer else 0)

    def to_dict(self):
        return asdict(self)


def conv_bn(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def coord_channels(n, h, w, device):
    ys = torch.linspace(-1, 1, h, device=device).view(1, 1, h, 1).expand(n, 1, h, w)
    xs = torch.linspace(-1, 1, w, device=device).view(1, 1, 1, w).expand(n, 1, h, w)
    return torch.cat([xs, ys], 1)


class VisionEncoder(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.stem = conv_bn(5, 24, 2)  # 64
        self.s2 = nn.Sequential(conv_bn(24, 48, 2), conv_bn(48, 48))  # 32
        self.s3 = nn.Sequential(conv_bn(48, 96, 2), conv_bn(96, 96))  # 16
        self.s4 = nn.Sequential(conv_bn(96, 160, 2), conv_bn(160, 160))  # 8
        self.lat2 = nn.Conv2d(48, c.feature_channels, 1)
        self.lat3 = nn.Conv2d(96, c.feature_channels, 1)
        self.lat4 = nn.Conv2d(160, c.feature_channels, 1)
        self.fuse = conv_bn(c.feature_channels, c.feature_channels)
        self.proj = nn.Sequential(nn.Linear(160, c.hidden), nn.GELU(), nn.Linear(c.hidden, c.hidden))
        self.pos = nn.Parameter(torch.randn(1, c.grid_tokens, c.hidden) * 0.02)
        # The 8x8 tokens lose small shapes (a probe: shape 0.74 from the token vs 0.96 pooled from the feature
        # map), so the location heads read a 16x16 grid from the stride-8 stage with the stride-16 context.
        self.loc_proj = nn.Sequential(nn.Linear(96 + 160, c.hidden), nn.GELU(), nn.Linear(c.hidden, c.hidden))
        self.loc_pos = nn.Parameter(torch.randn(1, c.location_tokens, c.hidden) * 0.02)

    def forward(self, pixel_values):
        n, _, h, w = pixel_values.shape
        x = torch.cat([pixel_values, coord_channels(n, h, w, pixel_values.device)], 1)
        x2 = self.s2(self.stem(x))
        x3 = self.s3(x2)
        x4 = self.s4(x3)
        fm = self.lat2(x2) + F.interpolate(self.lat3(x3), scale_factor=2.0, mode="nearest") \
            + F.interpolate(self.lat4(x4), scale_factor=4.0, mode="nearest")
        feature_map = self.fuse(fm)
        tokens = x4.flatten(2).transpose(1, 2)
        image_embeds = self.proj(tokens) + self.pos
        loc = torch.cat([x3, F.interpolate(x4, scale_factor=2.0, mode="nearest")], 1).flatten(2).transpose(1, 2)
        location_keys = self.loc_proj(loc) + self.loc_pos
        return image_embeds, feature_map, location_keys


class Attention(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.h, self.d = c.heads, c.head_dim
        self.qkv = nn.Linear(c.hidden, 3 * c.hidden)
        self.out = nn.Linear(c.hidden, c.hidden)

    def forward(self, x, bias, past_k=None, past_v=None):
        n, l, _ = x.shape
        q, k, v = self.qkv(x).view(n, l, 3, self.h, self.d).permute(2, 0, 3, 1, 4)
        if past_k is not None:
            k = torch.cat([past_k, k], 2)
            v = torch.cat([past_v, v], 2)
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.d)) + bias
        y = att.softmax(-1) @ v
        return self.out(y.transpose(1, 2).reshape(n, l, -1)), k, v


class Block(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(c.hidden), nn.LayerNorm(c.hidden)
        self.attn = Attention(c)
        self.mlp = nn.Sequential(nn.Linear(c.hidden, 4 * c.hidden), nn.GELU(), nn.Linear(4 * c.hidden, c.hidden))

    def forward(self, x, bias, past_k=None, past_v=None):
        a, k, v = self.attn(self.ln1(x), bias, past_k, past_v)
        x = x + a
        return x + self.mlp(self.ln2(x)), k, v


class Decoder(nn.Module):
    """Causal transformer over input embeddings. Position embeddings are added inside, from position_ids."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.c = c
        self.tok = nn.Embedding(c.vocab, c.hidden)
        self.pos = nn.Embedding(c.max_seq, c.hidden)
        self.blocks = nn.ModuleList([Block(c) for _ in range(c.layers)])
        self.ln = nn.LayerNorm(c.hidden)
        self.head = nn.Linear(c.hidden, c.vocab, bias=False)

    def forward(self, inputs_embeds, attention_mask, position_ids, past=None):
        """attention_mask: [N, P+L] (1 = attend); past: list of (k, v) [N, heads, P, head_dim] or None."""
        n, l, _ = inputs_embeds.shape
        total = attention_mask.shape[1]
        p = total - l
        qi = torch.arange(l, device=inputs_embeds.device).view(l, 1) + p
        kj = torch.arange(total, device=inputs_embeds.device).view(1, total)
        allowed = (kj <= qi).view(1, 1, l, total) & (attention_mask.view(n, 1, 1, total) > 0)
        bias = torch.zeros(allowed.shape, dtype=inputs_embeds.dtype, device=inputs_embeds.device)
        bias = bias.masked_fill(~allowed, -1e4)
        x = inputs_embeds + self.pos(position_ids)
        presents = []
        for i, blk in enumerate(self.blocks):
            pk, pv = (past[i] if past is not None else (None, None))
            x, k, v = blk(x, bias, pk, pv)
            presents.append((k, v))
        hidden = self.ln(x)
        return self.head(hidden), hidden, presents


class ImageQuery(nn.Module):
    """One cross-attention step: a hidden state asks the image tokens where its object is. Learning from
    scratch, an MLP on the hidden state alone did not localize within a CPU-sized budget; letting the location
    heads look at the image tokens directly makes the binding of words to places a shallow path."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.h, self.d = c.heads, c.head_dim
        self.ln_q, self.ln_kv = nn.LayerNorm(c.hidden), nn.LayerNorm(c.hidden)
        self.q, self.kv = nn.Linear(c.hidden, c.hidden), nn.Linear(c.hidden, 2 * c.hidden)
        self.out = nn.Linear(c.hidden, c.hidden)

    def forward(self, hidden_state, image_embeds, with_attention=False, index=None):
        """hidden_state [N, D]; image_embeds [N or 1, T, D], or [B, T, D] with index [N] naming each query's image
        (training: the keys of an image are projected once for all its queries). Training also reads the
        attention over the image tokens (mean over heads, [N, T]) to supervise it towards the object's cells."""
        return self.attend(hidden_state, self.keys(image_embeds), with_attention, index)

    def keys(self, image_embeds):
        """[B, T, D] -> projected keys and values [B, T, 2D]: once per image (the runtime gets them from the vision
        encoder, so a query per word costs one small attention instead of a projection of every key)."""
        return self.kv(self.ln_kv(image_embeds))

    def attend(self, hidden_state, kv, with_attention=False, index=None):
        n = hidden_state.shape[0]
        b, t, _ = kv.shape
        k, v = kv.view(b, t, 2, self.h, self.d).permute(2, 0, 3, 1, 4)
        q = self.q(self.ln_q(hidden_state)).view(n, self.h, self.d)
        if index is None:
            att = ((q.unsqueeze(2) @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.d))).softmax(-1)  # [N, h, 1, T]
            y, att = (att @ v)[:, :, 0], att[:, :, 0]
        else:
            y, att = self._grouped(q, k, v, index)
        out = hidden_state + self.out(y.reshape(n, -1))
        return (out, att.mean(1)) if with_attention else out

    def _grouped(self, q, k, v, index):
        """Queries grouped by image into [B, h, Qmax, d] so attention is one batched matmul per image, without
        copying an image's keys for each of its queries."""
        b, n = k.shape[0], q.shape[0]
        order = torch.argsort(index)
        counts = torch.bincount(index, minlength=b)
        starts = torch.cumsum(counts, 0) - counts
        slot = torch.arange(n) - starts[index[order]]
        qp = q.new_zeros(b, int(counts.max()), self.h, self.d)
        qp = qp.index_put((index[order], slot), q[order])
        att = ((qp.transpose(1, 2) @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.d))).softmax(-1)  # [B, h, Q, T]
        y = (att @ v).transpose(1, 2)[index[order], slot]  # [N, h, d] in sorted order
        a = att.transpose(1, 2)[index[order], slot]  # [N, h, T]
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(n)
        return y[inverse], a[inverse]


def empty_slots_out(scores, valid):
    """Slot scores [N,K] with the empty slots (valid 0) at -1e4, out of every softmax and argmax."""
    return torch.where(valid > 0.5, scores, torch.full_like(scores, -1e4))


class SpatialReasoning(nn.Module):
    """Relations and ordinals for the object pointer, from the slots' boxes. The decoder's hidden state matched each
    object by its own token only, so "the circle left of the green star" or "the second square from the left" had
    to be resolved inside four small layers, and were not (REC 0.25 / 0.29 with the plain pointer). Here the hidden
    state names an anchor object (soft attention over the slots) and a group (soft membership), and weighs, per
    direction (left, right, above, below), whether each object lies on that side of the anchor and how many group
    members lie before it (rank 0, 1, 2). Only the weights come from the hidden state; the geometry is computed
    from the boxes, so it holds for any scene. Zero-initialised weights leave the plain pointer unchanged."""

    SHARPNESS, MARGIN, RANKS, RANK_WIDTH = 80.0, 0.02, 3, 0.3

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.scale = 1.0 / math.sqrt(c.hidden)
        self.anchor = nn.Linear(c.hidden, c.hidden)
        self.group = nn.Linear(c.hidden, c.hidden)
        self.group_bias = nn.Parameter(torch.zeros(1))
        self.relation = nn.Linear(c.hidden, 4)
        self.rank = nn.Linear(c.hidden, 4 * self.RANKS)
        for layer in (self.relation, self.rank):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.register_buffer("others", 1.0 - torch.eye(c.object_tokens), persistent=False)
        self.register_buffer("ranks", torch.arange(self.RANKS, dtype=torch.float32), persistent=False)
        self.gate = c.spatial_gate

    def forward(self, h, key, boxes, valid):
        """h [N,D] (normalised hidden state), key [B,K,D], boxes [B,K,4], valid [B,K] (B = N or 1) -> [N,K] scores."""
        cx, cy = (boxes[..., 0] + boxes[..., 2]) / 2, (boxes[..., 1] + boxes[..., 3]) / 2
        xi, xj, yi, yj = cx.unsqueeze(2), cx.unsqueeze(1), cy.unsqueeze(2), cy.unsqueeze(1)
        # side[b,i,j,d]: object i lies left of / right of / above / below object j
        side = torch.sigmoid(self.SHARPNESS * (torch.stack([xj - xi, xi - xj, yj - yi, yi - yj], -1) - self.MARGIN))
        side = side * (self.others * valid.unsqueeze(1) * valid.unsqueeze(2)).unsqueeze(-1)
        anchor = torch.softmax(self.anchor_logits(h, key, valid), -1)  # [N,K]
        toward = (side * anchor.unsqueeze(1).unsqueeze(-1)).sum(2)  # [N,K,4]: i on side d of the anchor
        relation = (toward * self.relation(h).unsqueeze(1)).sum(-1)
        member = torch.sigmoid(self.member_logits(h, key)) * valid
        before = (side.transpose(1, 2) * member.unsqueeze(1).unsqueeze(-1)).sum(2)  # [N,K,4]: members on side d of i
        bump = torch.exp(-(before.unsqueeze(-1) - self.ranks) ** 2 / (2 * self.RANK_WIDTH ** 2))  # [N,K,4,R]
        rank = (bump * self.rank(h).view(-1, 1, 4, self.RANKS)).sum((-1, -2))
        # gated, "left of the star" and "the leftmost" reward only circles when circles are asked for; ungated (e11),
        # every object on that side or at that rank gains and only the plain key term tells the shapes apart
        return (relation + rank) * member if self.gate else relation + rank

    def anchor_logits(self, h, key, valid):
        """Which slot is the anchor ("the green star" of "the circle left of the green star"); [N,K], empty -1e4."""
        a = (key * self.anchor(h).unsqueeze(1)).sum(-1) * self.scale
        return empty_slots_out(a, valid)

    def member_logits(self, h, key):
        """Which slots belong to the named group (the circles of "the second circle from the left"); [N,K]."""
        return (key * self.group(h).unsqueeze(1)).sum(-1) * self.scale + self.group_bias


class ObjectPointer(nn.Module):
    """Picks one of the object tokens for the hidden state at <at>, or none of them (a pointer network).
    Regressing a box from a soft attention over a 16x16 grid could not resolve relations and ordinals in crowded
    scenes (REC 0.16 / 0.21); the decoder already reads the object tokens in its prompt, left to right, so naming
    which of them is meant is a classification over <= K slots, and the chosen proposal's box is already accurate
    (the proposals find 94 % of objects at IoU 0.5). A learned slot embedding lets the query point by position."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.scale = 1.0 / math.sqrt(c.hidden)
        self.ln_q, self.ln_k = nn.LayerNorm(c.hidden), nn.LayerNorm(c.hidden)
        self.q, self.k = nn.Linear(c.hidden, c.hidden), nn.Linear(c.hidden, c.hidden)
        self.slot = nn.Parameter(torch.randn(1, c.object_tokens, c.hidden) * 0.02)
        self.none = nn.Linear(c.hidden, 1)
        self.spatial = SpatialReasoning(c) if c.spatial_pointer else None

    def keys(self, object_embeds, boxes, valid):
        """[B,K,D] object tokens, [B,K,4] their boxes, [B,K] validity -> pointer rows [B,K,2D]:
        the projected key, then box (4) and validity (1), zero-padded (the layout of the location keys' rows)."""
        b, k, d = object_embeds.shape
        key = self.k(self.ln_k(object_embeds)) + self.slot
        pad = object_embeds.new_zeros(b, k, d - 5)
        return torch.cat([key, boxes, valid.unsqueeze(-1), pad], -1)

    def logits(self, hidden_state, rows, index=None):
        """[N,D] queries over pointer rows [B,K,2D] (B = 1 broadcasts; index [N] names each query's image)
        -> [N, 1+K] logits: column 0 is 'none of the objects', then one per slot (empty slots -1e4)."""
        d = hidden_state.shape[1]
        if index is not None:
            rows = rows[index]
        key, valid = rows[..., :d], rows[..., d + 4]
        h = self.ln_q(hidden_state)
        s = (key * self.q(h).unsqueeze(1)).sum(-1) * self.scale
        if self.spatial is not None:
            s = s + self.spatial(h, key, rows[..., d:d + 4], valid)
        s = empty_slots_out(s, valid)
        return torch.cat([self.none(h), s], 1)

    @staticmethod
    def boxes(rows, index=None):
        d = rows.shape[-1] // 2
        return (rows if index is None else rows[index])[..., d:d + 4]


class BoxDecoder(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.locations = c.location_tokens
        self.query = ImageQuery(c)
        self.mlp = nn.Sequential(nn.Linear(c.hidden, c.hidden), nn.GELU(), nn.Linear(c.hidden, c.hidden), nn.GELU(),
                                 nn.Linear(c.hidden, 4))
        self.pointer = ObjectPointer(c) if c.object_pointer else None

    def forward(self, hidden_state, image_embeds, index=None):
        return self.decode(self.query(hidden_state, image_embeds, index=index))

    def from_keys(self, hidden_state, keys):
        """The same over keys already projected by query.keys (what the runtime gets from the vision encoder); with
        an object pointer, keys also hold its rows, and a picked object's box replaces the regressed one."""
        box = self.decode(self.query.attend(hidden_state, keys[:, :self.locations]))
        if self.pointer is None:
            return box
        rows = keys[:, self.locations:]
        pick = self.pointer.logits(hidden_state, rows).argmax(1)  # [N]; 0 = none
        n = hidden_state.shape[0]
        picked = self.pointer.boxes(rows).expand(n, -1, -1).gather(
            1, (pick - 1).clamp(min=0).view(n, 1, 1).expand(n, 1, 4))[:, 0]
        return torch.where((pick > 0).view(n, 1), picked, box)

    def decode(self, x):
        o = torch.sigmoid(self.mlp(x))
        cx, cy, w, h = o[:, 0], o[:, 1], o[:, 2], o[:, 3]
        return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)


class BoxEncoder(nn.Module):
    """Where (Fourier features of the box) plus what (feature-map samples inside the box, as Ferret does): a
    region then tells the language model what it holds, not only where it is."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.samples = c.region_samples
        self.freqs = nn.Parameter(torch.randn(4, 32) * 4.0, requires_grad=False)  # Fourier features of the box
        self.mlp = nn.Sequential(nn.Linear(4 + 64, c.hidden), nn.GELU(), nn.Linear(c.hidden, c.hidden))
        self.region = nn.Sequential(nn.Linear(c.feature_channels * c.region_samples ** 2, c.hidden), nn.GELU(),
                                    nn.Linear(c.hidden, c.hidden))

    def forward(self, box, feature_map):
        """box [N,4]; feature_map [N or 1, C, H, W] (broadcast over boxes when 1)."""
        n = box.shape[0]
        if feature_map.shape[0] != n:
            feature_map = feature_map.expand(n, -1, -1, -1)
        f = (box * 2 - 1) @ self.freqs * math.pi
        samples = F.grid_sample(feature_map, crop_grid(box, self.samples, 0.0), mode="bilinear",
                                padding_mode="zeros", align_corners=False)
        return self.mlp(torch.cat([box, f.sin(), f.cos()], 1)) + self.region(samples.flatten(1))


def crop_grid(box, size, expand):
    """Sampling grid (grid_sample coords, -1..1 over the padded square) of size x size cell centres covering
    the box grown by `expand` of its width/height on each side."""
    n = box.shape[0]
    x1, y1, x2, y2 = box[:, 0], box[:, 1], box[:, 2], box[:, 3]
    w, h = (x2 - x1).clamp(min=1e-3), (y2 - y1).clamp(min=1e-3)
    cx1, cy1 = x1 - expand * w, y1 - expand * h
    cw, ch = w * (1 + 2 * expand), h * (1 + 2 * expand)
    t = (torch.arange(size, dtype=box.dtype, device=box.device) + 0.5) / size
    gx = cx1.view(n, 1, 1) + cw.view(n, 1, 1) * t.view(1, 1, size)
    gy = cy1.view(n, 1, 1) + ch.view(n, 1, 1) * t.view(1, size, 1)
    gx = gx.expand(n, size, size)
    gy = gy.expand(n, size, size)
    return torch.stack([gx * 2 - 1, gy * 2 - 1], -1)


class MaskDecoder(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.size, self.expand = c.mask_size, c.mask_crop_expand
        ch = 32
        self.inp = nn.Conv2d(c.feature_channels + 2, ch, 1)
        self.film = nn.Linear(c.hidden, 2 * ch)
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(ch, ch, 3, 1, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(ch, ch, 3, 1, 1), nn.ReLU(inplace=True))
        self.logits = nn.Conv2d(ch, 1, 1)
        self.score = nn.Sequential(nn.Linear(ch, 64), nn.ReLU(inplace=True), nn.Linear(64, 1))

    def forward(self, feature_map, box, location_embedding):
        """feature_map [N or 1, C, H, W] (broadcast over boxes when 1), box [N,4], embedding [N,D]."""
        n = box.shape[0]
        if feature_map.shape[0] != n:
            feature_map = feature_map.expand(n, -1, -1, -1)
        grid = crop_grid(box, self.size, self.expand)
        f = F.grid_sample(feature_map, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        # crop-relative coordinates tell the decoder where the box edges are inside the crop
        x = self.inp(torch.cat([f, coord_channels(n, self.size, self.size, f.device)], 1))
        g, b = self.film(location_embedding).view(n, 2, -1, 1, 1).unbind(1)
        x = F.relu(x * (1 + g) + b)
        x = self.body(x)
        mask_logits = self.logits(x)[:, 0]
        mask_score = torch.sigmoid(self.score(x.mean((2, 3))))[:, 0]
        return mask_logits, mask_score


class PointHead(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.locations = c.location_tokens
        self.query = ImageQuery(c)
        self.mlp = nn.Sequential(nn.Linear(c.hidden, c.hidden), nn.GELU(), nn.Linear(c.hidden, 2))

    def forward(self, hidden_state, image_embeds, index=None):
        return self.decode(self.query(hidden_state, image_embeds, index=index))

    def from_keys(self, hidden_state, keys):
        """The same over keys already projected by query.keys (what the runtime gets from the vision encoder); rows
        after the location keys (zero padding, so point_keys has box_keys' shape) are not read."""
        return self.decode(self.query.attend(hidden_state, keys[:, :self.locations]))

    def decode(self, x):
        return torch.sigmoid(self.mlp(x))


class ProposalHead(nn.Module):
    """Per cell of a proposal_grid x proposal_grid map: objectness (an object's centre is in this cell) and
    its box as (centre offset in the cell, log size)."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.g = c.proposal_grid
        self.body = nn.Sequential(conv_bn(c.feature_channels, 64, 2), conv_bn(64, 64))
        self.obj = nn.Conv2d(64, 1, 1)
        self.reg = nn.Conv2d(64, 4, 1)

    def raw(self, feature_map):
        x = self.body(feature_map)
        return self.obj(x)[:, 0], self.reg(x)

    def decode(self, reg):
        n, _, g, _ = reg.shape
        cells = (torch.arange(g, dtype=reg.dtype, device=reg.device) + 0.5) / g
        cx = cells.view(1, 1, g) + torch.tanh(reg[:, 0]) / g
        cy = cells.view(1, g, 1) + torch.tanh(reg[:, 1]) / g
        w, h = torch.sigmoid(reg[:, 2]), torch.sigmoid(reg[:, 3])
        return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1).view(n, g * g, 4)

    def forward(self, feature_map):
        obj, reg = self.raw(feature_map)
        n = obj.shape[0]
        return self.decode(reg), torch.sigmoid(obj).view(n, -1)


def select_objects(boxes, scores, k, threshold, iou_limit):
    """Greedy NMS unrolled k times (a fixed graph the ONNX export keeps): boxes [N,P,4], scores [N,P] -> the k best
    non-overlapping boxes [N,k,4] ordered left to right with empty slots last, and their validity [N,k] (0/1)."""
    s = torch.where(scores >= threshold, scores, torch.full_like(scores, -1.0))
    picked, valid = [], []
    for _ in range(k):
        i = s.argmax(1, keepdim=True)  # [N,1]
        b = boxes.gather(1, i.unsqueeze(-1).expand(-1, 1, 4))  # [N,1,4]
        valid.append((s.gather(1, i) > 0).to(boxes.dtype))
        picked.append(b)
        ix1, iy1 = torch.max(boxes[..., 0], b[..., 0]), torch.max(boxes[..., 1], b[..., 1])
        ix2, iy2 = torch.min(boxes[..., 2], b[..., 2]), torch.min(boxes[..., 3], b[..., 3])
        inter = (ix2 - ix1).clamp(min=0) * (iy2 - iy1).clamp(min=0)
        area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
        area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
        iou = inter / (area + area_b - inter + 1e-7)
        s = torch.where(iou > iou_limit, torch.full_like(s, -1.0), s)
        s = s.scatter(1, i, torch.full_like(i, -1, dtype=s.dtype))
    boxes_k, valid_k = torch.cat(picked, 1), torch.cat(valid, 1)
    key = (boxes_k[..., 0] + boxes_k[..., 2]) / 2 + 4.0 * (1 - valid_k)
    _, order = key.topk(k, 1, largest=False)
    return boxes_k.gather(1, order.unsqueeze(-1).expand(-1, -1, 4)), valid_k.gather(1, order)


class ObjectTokens(nn.Module):
    """Object-level image tokens. The 8x8 grid tokens lose small shapes and the decoder reads them slowly (a probe:
    shape 0.74 from the token vs 0.96 pooled inside the object's box), so the proposal head's objects, left to
    right, enter the prompt as the box encoder's region embedding (where + what, the same embedding a user-drawn
    region gets) plus a learned marker; unused slots are one learned 'no object' row. Listing, counting and
    comparing objects then read one token per object."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.kind = nn.Parameter(torch.zeros(1, 1, c.hidden))
        self.empty = nn.Parameter(torch.randn(1, 1, c.hidden) * 0.02)

    def forward(self, box_encoder, feature_map, boxes, valid):
        n, k, _ = boxes.shape
        emb = box_encoder(boxes.reshape(n * k, 4), feature_map.repeat_interleave(k, 0)).view(n, k, -1)
        v = valid.unsqueeze(-1)
        return v * (emb + self.kind) + (1 - v) * self.empty


class GroundingModel(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.config = c
        self.vision = VisionEncoder(c)
        self.decoder = Decoder(c)
        self.box_decoder = BoxDecoder(c)
        self.box_encoder = BoxEncoder(c)
        self.mask_decoder = MaskDecoder(c)
        self.point_head = PointHead(c)
        self.proposal_head = ProposalHead(c)
        self.object_tokens = ObjectTokens(c) if c.object_tokens else None
        # training-only: per image token, the attributes and box of the object centred in its cell. It teaches the
        # image tokens what the location heads must match against (a pretrained encoder would bring this).
        cells = 1 + len(CELL_COLORS) + 1 + len(CELL_SHAPES) + 1 + len(CELL_SIZES) + 4
        self.cell_head = nn.Linear(c.hidden, cells)
        self.location_cell_head = nn.Linear(c.hidden, cells)  # the same targets on the 16x16 location keys
        # training-only: a region embedding must name its object's attributes (region captions read it)
        self.region_head = nn.Linear(c.hidden, len(CELL_COLORS) + len(CELL_SHAPES) + len(CELL_SIZES))

    def encode_image(self, pixel_values):
        """-> image_embeds [N, image_tokens, D] (grid tokens, then object tokens), feature_map, location_keys."""
        return self.encode_image_objects(pixel_values)[:3]

    def encode_image_objects(self, pixel_values):
        """encode_image plus the object tokens' (boxes [N,K,4], validity [N,K]), or None without object tokens."""
        grid, feature_map, location_keys = self.vision(pixel_values)
        if self.object_tokens is None:
            return grid, feature_map, location_keys, None
        c = self.config
        with torch.no_grad():  # which boxes become tokens is a selection, not a path for gradients
            boxes, scores = self.proposal_head(feature_map)
            boxes, valid = select_objects(boxes, scores, c.object_tokens, c.object_threshold, c.object_nms_iou)
        boxes = boxes.clamp(0, 1)
        objects = self.object_tokens(self.box_encoder, feature_map, boxes, valid)
        return torch.cat([grid, objects], 1), feature_map, location_keys, (boxes, valid)

    def location_heads_keys(self, image_embeds, location_keys, objects):
        """box_keys and point_keys [N, key_rows, 2D]: the location keys projected once per image, plus the pointer's
        rows (box_keys) or zero rows of the same count (point_keys) when the box decoder has an object pointer."""
        box_keys = self.box_decoder.query.keys(location_keys)
        point_keys = self.point_head.query.keys(location_keys)
        if self.box_decoder.pointer is None:
            return box_keys, point_keys
        rows = self.box_decoder.pointer.keys(image_embeds[:, self.config.grid_tokens:], *objects)
        return torch.cat([box_keys, rows], 1), torch.cat([point_keys, torch.zeros_like(rows)], 1)


def box_iou_giou(a, b):
    """Elementwise IoU and GIoU of boxes [N,4]."""
    ix1, iy1 = torch.max(a[:, 0], b[:, 0]), torch.max(a[:, 1], b[:, 1])
    ix2, iy2 = torch.min(a[:, 2], b[:, 2]), torch.min(a[:, 3], b[:, 3])
    inter = (ix2 - ix1).clamp(min=0) * (iy2 - iy1).clamp(min=0)
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    union = area_a + area_b - inter + 1e-7
    iou = inter / union
    cx1, cy1 = torch.min(a[:, 0], b[:, 0]), torch.min(a[:, 1], b[:, 1])
    cx2, cy2 = torch.max(a[:, 2], b[:, 2]), torch.max(a[:, 3], b[:, 3])
    hull = (cx2 - cx1) * (cy2 - cy1) + 1e-7
    return iou, iou - (hull - union) / hull

"""Trains the grounding model from scratch on the synthetic world. Resumable; prints progress.

    /usr/bin/python3 models/training/train.py --run models/training/runs/default --steps 6000

Curriculum (TinyGroundingGPT style): stage 1 (single objects, attributes, regions) for the first
`--stage1` fraction of the steps, then stage 2 (relations, ordinals, long grounded answers).
Losses as NExT-Chat: LM cross-entropy (slot tokens excluded), 2*L1 + 0.2*(1-GIoU) on boxes, two
cycle-consistency losses between box encoder and decoder, focal + dice on masks, L1 on word points,
plus the proposal head's objectness focal loss and box loss.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from batching import collate, encode_turns, image_batch, object_masks, sample_encoded  # noqa: E402
from conversations import TASK_WEIGHT_OVERRIDES, Turn, jitter_box  # noqa: E402
from model import CELL_COLORS, CELL_SHAPES, CELL_SIZES, GroundingModel, ModelConfig, box_iou_giou, crop_grid  # noqa: E402
from scenes import IMAGE_SIZE, load_cache, normalize  # noqa: E402
from tokenizer import WordTokenizer  # noqa: E402


def focal_loss(logits, target, alpha=0.25, gamma=2.0):
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    pt = p * target + (1 - p) * (1 - target)
    a = alpha * target + (1 - alpha) * (1 - target)
    return (a * ce * (1 - pt) ** gamma).mean()


def dice_loss(logits, target):
    p = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    return (1 - (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)).mean()


def box_loss(pred, gt):
    _, giou = box_iou_giou(pred, gt)
    return 2 * (pred - gt).abs().sum(1).mean() + 0.2 * (1 - giou).mean()


def box_cells(boxes, g):
    """[N, g*g] targets: image-token cells whose centre lies in the box, else the cell holding its centre."""
    centres = (torch.arange(g, dtype=torch.float32) + 0.5) / g
    cy, cx = centres.view(g, 1).expand(g, g).reshape(-1), centres.view(1, g).expand(g, g).reshape(-1)
    inside = (cx[None] >= boxes[:, :1]) & (cx[None] <= boxes[:, 2:3]) & (cy[None] >= boxes[:, 1:2]) & (cy[None] <= boxes[:, 3:4])
    mx = ((boxes[:, 0] + boxes[:, 2]) / 2 * g).long().clamp(0, g - 1)
    my = ((boxes[:, 1] + boxes[:, 3]) / 2 * g).long().clamp(0, g - 1)
    inside[torch.arange(len(boxes)), my * g + mx] = True
    return inside.float()


def attention_loss(att, target):
    """Pushes a location head's attention mass onto the object's cells (a direct grounding signal)."""
    return -torch.log((att * target).sum(1) + 1e-6).mean()


def embed_sequence(model, batch, image_embeds, feature_map):
    """Token embeddings with image rows at 1..T and box-encoder embeddings at <boxes> slots."""
    x = model.decoder.tok(batch["ids"])
    t = image_embeds.shape[1]
    x = torch.cat([x[:, :1], image_embeds, x[:, 1 + t:]], 1)
    if batch["slot_box"].shape[0]:
        x = x.index_put(batch["slot_index"], model.box_encoder(batch["slot_box"], feature_map[batch["slot_index"][0]]))
    return x


def mask_losses(model, cache, scene_ids, feature_map, rng, per_batch):
    picks = [(b, k) for b, s in enumerate(scene_ids) for k in range(len(cache["objects"][s]))]
    rng.shuffle(picks)
    picks = picks[:per_batch]
    boxes, masks, fms = [], [], []
    for b, k in picks:
        s = scene_ids[b]
        boxes.append(jitter_box(cache["objects"][s][k]["box"], rng, 0.05))
        masks.append(object_masks(cache, s, IMAGE_SIZE)[k])
        fms.append(b)
    box = torch.tensor(boxes, dtype=torch.float32)
    c = model.config
    grid = crop_grid(box, c.mask_size, c.mask_crop_expand)
    target = (F.grid_sample(torch.stack(masks)[:, None], grid, mode="bilinear", align_corners=False)[:, 0] > 0.5).float()
    logits, score = model.mask_decoder(feature_map[fms], box, model.box_encoder(box, feature_map[fms]))
    with torch.no_grad():
        pred = (logits > 0).float()
        inter = (pred * target).flatten(1).sum(1)
        union = ((pred + target) > 0).float().flatten(1).sum(1)
        iou = inter / union.clamp(min=1)
    loss = 20 * focal_loss(logits, target) + dice_loss(logits, target) + (score - iou).abs().mean()
    return loss, iou.mean().item()


def proposal_losses(model, cache, scene_ids, feature_map):
    head = model.proposal_head
    g = head.g
    obj, reg = head.raw(feature_map)
    boxes = head.decode(reg)
    target = torch.zeros_like(obj)
    pos_pred, pos_gt = [], []
    for b, s in enumerate(scene_ids):
        for o in cache["objects"][s]:
            x1, y1, x2, y2 = o["box"]
            gx, gy = min(int((x1 + x2) / 2 * g), g - 1), min(int((y1 + y2) / 2 * g), g - 1)
            target[b, gy, gx] = 1.0
            pos_pred.append(boxes[b, gy * g + gx])
            pos_gt.append(o["box"])
    loss = 10 * focal_loss(obj, target)
    if pos_pred:
        loss = loss + box_loss(torch.stack(pos_pred), torch.tensor(pos_gt, dtype=torch.float32))
    return loss


def cell_losses(head, cache, scene_ids, embeds, g):
    """Attributes (class 0 = no object centred here) and box of the object centred in each g x g cell."""
    n = len(scene_ids)
    color = torch.zeros(n, g * g, dtype=torch.long)
    shape = torch.zeros(n, g * g, dtype=torch.long)
    size = torch.zeros(n, g * g, dtype=torch.long)
    boxes = torch.zeros(n, g * g, 4)
    for b, s in enumerate(scene_ids):
        for o in cache["objects"][s]:  # drawing order: an object on top wins a shared cell
            x1, y1, x2, y2 = o["box"]
            cell = min(int((y1 + y2) / 2 * g), g - 1) * g + min(int((x1 + x2) / 2 * g), g - 1)
            color[b, cell] = CELL_COLORS.index(o["color"]) + 1
            shape[b, cell] = CELL_SHAPES.index(o["shape"]) + 1
            size[b, cell] = CELL_SIZES.index(o["size"]) + 1
            boxes[b, cell] = torch.tensor(o["box"])
    out = head(embeds)
    k1, k2, k3 = 1 + len(CELL_COLORS), 2 + len(CELL_COLORS) + len(CELL_SHAPES), 3 + len(CELL_COLORS) + len(CELL_SHAPES) + len(CELL_SIZES)
    loss = F.cross_entropy(out[..., :k1].reshape(-1, k1), color.view(-1)) \
        + F.cross_entropy(out[..., k1:k2].reshape(-1, k2 - k1), shape.view(-1)) \
        + F.cross_entropy(out[..., k2:k3].reshape(-1, k3 - k2), size.view(-1))
    pos = color > 0
    if pos.any():
        loss = loss + 2 * (torch.sigmoid(out[..., k3:])[pos] - boxes[pos]).abs().sum(1).mean()
    return loss


def region_losses(model, cache, scene_ids, feature_map, rng, per_batch):
    """The box encoder's embedding of a (jittered, user-drawn-like) box must name the object's attributes."""
    picks = [(b, k) for b, s in enumerate(scene_ids) for k in range(len(cache["objects"][s]))]
    rng.shuffle(picks)
    picks = picks[:per_batch]
    objs = [cache["objects"][scene_ids[b]][k] for b, k in picks]
    box = torch.tensor([jitter_box(o["box"], rng, 0.06) for o in objs], dtype=torch.float32)
    out = model.region_head(model.box_encoder(box, feature_map[[b for b, _ in picks]]))
    k1, k2 = len(CELL_COLORS), len(CELL_COLORS) + len(CELL_SHAPES)
    color = torch.tensor([CELL_COLORS.index(o["color"]) for o in objs])
    shape = torch.tensor([CELL_SHAPES.index(o["shape"]) for o in objs])
    size = torch.tensor([CELL_SIZES.index(o["size"]) for o in objs])
    loss = F.cross_entropy(out[:, :k1], color) + F.cross_entropy(out[:, k1:k2], shape) + F.cross_entropy(out[:, k2:], size)
    acc = ((out[:, k1:k2].argmax(1) == shape).float().mean()).item()
    return loss, acc


def phrase_batch(tok, cache, scene_ids, rng, per_image):
    """Cheap locator practice: for objects whose full description is unique in their scene, the answer fragment
    `<assistant> <p> the size color shape </p> <at>` alone (no image prefix, a random position offset like a real
    answer's). The decoder turns the phrase into the <at> query; the box decoder finds it in the location keys.
    Answers always name the full description, so this is the query the product sends."""
    seqs, owners = [], []
    for b, s in enumerate(scene_ids):
        objs = cache["objects"][s]
        keys = [(o["size"], o["color"], o["shape"]) for o in objs]
        unique = [k for k, key in enumerate(keys) if keys.count(key) == 1]
        rng.shuffle(unique)
        for k in unique[:per_image]:
            o = objs[k]
            article = "the" if rng.random() < 0.6 else "a"
            seqs.append(tok.encode(f"<assistant> <p> {article} {o['size']} {o['color']} {o['shape']} </p> <at>"))
            owners.append((b, k))
    return seqs, owners


def image_free_decoder(model, inputs_embeds, rng):
    """The decoder over short sequences without the image prefix, at a random position offset (70-200) like a real
    answer's: the cheap practice sequences of the phrase locator and the region describer."""
    n, l, _ = inputs_embeds.shape
    offset = torch.from_numpy(rng.integers(70, 200, n)).view(n, 1)
    return model.decoder(inputs_embeds, torch.ones(n, l, dtype=torch.long), offset + torch.arange(l))


def pointer_targets(objects, index, gt):
    """Which object token each query means: the slot whose box overlaps the target most if IoU >= 0.5, else 0
    ('none', the regressed box). objects = (boxes [B,K,4], valid [B,K]); index [N] image of each query."""
    boxes, valid = objects[0][index], objects[1][index]
    n, k, _ = boxes.shape
    iou = box_iou_giou(boxes.reshape(-1, 4), gt.repeat_interleave(k, 0))[0].view(n, k)
    iou = torch.where(valid > 0, iou, torch.zeros_like(iou))
    best, slot = iou.max(1)
    return torch.where(best >= 0.5, slot + 1, torch.zeros_like(slot))


def pointer_losses(model, h, pointer_rows, index, gt, pred, objects, args, prefix=""):
    """Cross-entropy of the object pointer, and the accuracy of the box the runtime would return (picked or
    regressed)."""
    head = model.box_decoder.pointer
    logits = head.logits(h, pointer_rows, index)
    target = pointer_targets(objects, index, gt)
    pick = logits.detach().argmax(1)
    picked = head.boxes(pointer_rows, index)[torch.arange(len(pick)), (pick - 1).clamp(min=0)]
    final = torch.where((pick > 0).view(-1, 1), picked, pred.detach())
    iou = box_iou_giou(final, gt)[0]
    return {prefix + "ptr": args.pointer_weight * F.cross_entropy(logits, target)}, \
        {prefix + "ptr_acc": (pick == target).float().mean().item(), prefix + "acc": (iou >= 0.5).float().mean().item()}


def phrase_losses(model, cache, tok, scene_ids, location_keys, rng, args, pointer=None):
    c = model.config
    seqs, owners = phrase_batch(tok, cache, scene_ids, rng, args.phrases_per_image)
    if not seqs:
        return {}, {}
    ids = torch.tensor(seqs)
    l = ids.shape[1]
    _, hidden, _ = image_free_decoder(model, model.decoder.tok(ids), rng)
    b_idx = torch.tensor([b for b, _ in owners])
    gt = torch.tensor([cache["objects"][scene_ids[b]][k]["box"] for b, k in owners], dtype=torch.float32)
    q, att = model.box_decoder.query(hidden[:, -1], location_keys, True, b_idx)
    pred = model.box_decoder.decode(q)
    losses = {"p_box": args.box_weight * box_loss(pred, gt),
              "p_attend": attention_loss(att, box_cells(gt, c.location_grid))}
    # the words of the phrase point at their object (positions 2..l-3: article, size, colour, shape)
    pts = torch.tensor([cache["objects"][scene_ids[b]][k]["point"] for b, k in owners], dtype=torch.float32)
    words = hidden[:, 2:l - 2].reshape(-1, c.hidden)
    w = l - 4
    pq = model.point_head.query(words, location_keys, index=b_idx.repeat_interleave(w))
    losses["p_point"] = (model.point_head.decode(pq) - pts.repeat_interleave(w, 0)).abs().sum(1).mean()
    iou = box_iou_giou(pred.detach(), gt)[0]
    stats = {"p_iou": iou.mean().item(), "p_acc": (iou >= 0.5).float().mean().item()}
    if pointer is not None:
        pl, ps = pointer_losses(model, hidden[:, -1], pointer[0], b_idx, gt, pred, pointer[1], args, "p_")
        losses.update(pl)
        stats.update(ps)
    return losses, stats


def describer_losses(model, cache, tok, scene_ids, feature_map, rng, args):
    """Cheap region-caption practice, the mirror of the phrase locator: `<user> what is this <boxes> ? <end>
    <assistant> a small red star . <end>` alone (no image prefix, a random position offset), the slot carrying the
    box encoder's embedding of a user-drawn-like box. The language model learns to read what a region embedding
    holds from many short sequences instead of a few whole conversations."""
    encs, images = [], []
    for b, s in enumerate(scene_ids):
        objs = cache["objects"][s]
        for k in rng.permutation(len(objs))[:args.regions_per_image]:
            o = objs[k]
            r = rng.random()
            if r < 0.6:
                q, a = "what is this <boxes> ?", f"a {o['size']} {o['color']} {o['shape']} ."
            elif r < 0.8:
                q, a = "what color is this <boxes> ?", f"{o['color']} ."
            else:
                q, a = "what shape is this <boxes> ?", f"{o['shape']} ."
            # a one-turn conversation with no image rows: the answer tokens are the targets, the slot the box
            encs.append(encode_turns(tok, [Turn(q, a, [jitter_box(o["box"], rng, 0.06)])], image_tokens=0))
            images.append(b)
    if not encs:
        return {}
    batch = collate(encs, tok.id("<pad>"))
    slot_images = torch.tensor(images)[batch["slot_index"][0]]
    x = model.decoder.tok(batch["ids"]).index_put(batch["slot_index"],
                                                  model.box_encoder(batch["slot_box"], feature_map[slot_images]))
    logits, _, _ = image_free_decoder(model, x, rng)
    tgt = batch["target"][:, 1:]
    return {"describe": args.lm_weight * F.cross_entropy(logits[:, :-1][tgt], batch["ids"][:, 1:][tgt])}


def train_step(model, cache, tok, rng, stage, cfg, args):
    c = model.config
    samples = [sample_encoded(cache, tok, rng, stage, c.image_tokens, args.max_len) for _ in range(args.batch)]
    scene_ids = [s for s, _ in samples] + [int(rng.integers(len(cache["objects"]))) for _ in range(args.extra_images)]
    pixels = normalize(image_batch(cache, scene_ids))
    image_embeds, feature_map, location_keys, objects = model.encode_image_objects(pixels)
    pointer = None
    if model.box_decoder.pointer is not None:
        pointer = (model.box_decoder.pointer.keys(image_embeds[:, c.grid_tokens:], *objects), objects)
    losses, stats = {}, {}
    if samples:
        conversation_losses(model, cache, [e for _, e in samples], scene_ids, image_embeds, feature_map,
                            location_keys, losses, stats, args, pointer)
    if args.phrases_per_image:
        pl, ps = phrase_losses(model, cache, tok, scene_ids, location_keys, rng, args, pointer)
        losses.update(pl)
        stats.update(ps)
    if args.regions_per_image:
        losses.update(describer_losses(model, cache, tok, scene_ids, feature_map, rng, args))
    losses["mask"], stats["mask_iou"] = mask_losses(model, cache, scene_ids, feature_map, rng, args.mask_objects)
    losses["proposal"] = proposal_losses(model, cache, scene_ids, feature_map)
    losses["cells"] = cell_losses(model.cell_head, cache, scene_ids, image_embeds[:, :c.grid_tokens], c.image_grid)
    losses["loc_cells"] = cell_losses(model.location_cell_head, cache, scene_ids, location_keys, c.location_grid)
    losses["region"], stats["region_shape"] = region_losses(model, cache, scene_ids, feature_map, rng, args.region_objects)
    return losses, stats


def conversation_losses(model, cache, encs, scene_ids, image_embeds, feature_map, location_keys, losses, stats, args,
                        pointer=None):
    """LM, box, point and cycle losses on whole conversations (the first len(encs) images of the batch)."""
    c = model.config
    batch = collate(encs, 0)
    k = len(encs)
    x = embed_sequence(model, batch, image_embeds[:k], feature_map[:k])
    n, l, _ = x.shape
    pos = torch.arange(l).view(1, l).expand(n, l)
    logits, hidden, _ = model.decoder(x, torch.ones(n, l, dtype=torch.long), pos)
    tgt = batch["target"][:, 1:]
    losses["lm"] = args.lm_weight * F.cross_entropy(logits[:, :-1][tgt], batch["ids"][:, 1:][tgt])
    gt = torch.tensor([cache["objects"][scene_ids[b]][o]["box"] for b, o in batch["at_object"]], dtype=torch.float32)
    h_at = hidden[batch["at_index"]]
    b_at = batch["at_index"][0]
    if len(gt):
        q, att = model.box_decoder.query(h_at, location_keys, True, b_at)
        pred = model.box_decoder.decode(q)
        losses["box"] = args.box_weight * box_loss(pred, gt)
        losses["attend"] = attention_loss(att, box_cells(gt, c.location_grid))
        # cycle consistency: decode(encode(box)) = box, and encode(decode(h)) stays close to the slot embedding
        enc_gt = model.box_encoder(gt, feature_map[b_at])
        cyc_box = model.box_decoder(enc_gt, location_keys, b_at)
        losses["cycle"] = 0.5 * (cyc_box - gt).abs().sum(1).mean() + \
            0.1 * F.smooth_l1_loss(model.box_encoder(pred, feature_map[b_at]), enc_gt.detach())
        stats["iou"] = box_iou_giou(pred.detach(), gt)[0].mean().item()
        if pointer is not None:
            pl, ps = pointer_losses(model, h_at, pointer[0], b_at, gt, pred, pointer[1], args)
            losses.update(pl)
            stats.update(ps)
        if pointer is not None and args.referent_weight:
            referent_loss(model, batch, hidden, b_at, gt, pointer, losses, stats, args)
        if pointer is not None and model.box_decoder.pointer.spatial is not None and args.spatial_weight:
            spatial_losses(model, cache, scene_ids, batch, h_at, b_at, pointer, losses, stats, args)
    if len(batch["word_object"]):
        pts = torch.tensor([cache["objects"][scene_ids[b]][o]["point"] for b, o in batch["word_object"]])
        q, att = model.point_head.query(hidden[batch["word_index"]], location_keys, True, batch["word_index"][0])
        losses["point"] = 2 * (model.point_head.decode(q) - pts).abs().sum(1).mean()
        losses["attend_point"] = 0.5 * attention_loss(att, box_cells(pts.repeat(1, 2), c.location_grid))


def referent_loss(model, batch, hidden, b_at, gt, pointer, losses, stats, args):
    """The decoder resolves the question before it answers: at each answer's `<assistant>` token (before any word of
    the answer), the object pointer must already pick the object the answer's first region will be. The answer's
    phrase then names an object the decoder has chosen from the question, instead of the question being resolved
    (or not) word by word while the phrase is written; relations and ordinals get a direct signal."""
    ids = batch["ids"]
    n, l = ids.shape
    p_at = batch["at_index"][1]
    pos = torch.arange(l).view(1, l).expand(len(p_at), l)
    starts = (ids[b_at] == args.assistant_id) & (pos < p_at.view(-1, 1))
    q = torch.where(starts, pos, torch.full_like(pos, -1)).max(1).values  # the answer's <assistant>, per <at>
    first = torch.ones_like(q, dtype=torch.bool)
    first[1:] = ~((q[1:] == q[:-1]) & (b_at[1:] == b_at[:-1]))  # only each answer's first region
    sel = first & (q >= 0)
    if not sel.any():
        return
    head = model.box_decoder.pointer
    logits = head.logits(hidden[b_at[sel], q[sel]], pointer[0], b_at[sel])
    target = pointer_targets(pointer[1], b_at[sel], gt[sel])
    losses["referent"] = args.referent_weight * F.cross_entropy(logits, target)
    stats["ref_acc"] = (logits.detach().argmax(1) == target).float().mean().item()


def spatial_losses(model, cache, scene_ids, batch, h_at, b_at, pointer, losses, stats, args):
    """Direct targets for the spatial pointer's two choices, which otherwise learn only through the relation and
    rank weights (zero at the start, so at first they get no gradient at all): the group of each <at> is the slots
    holding an object of its object's shape (every expression names the target's shape), and a relation's anchor
    is the slot holding the anchor object."""
    head = model.box_decoder.pointer
    rows, (boxes, valid) = pointer[0][b_at], (pointer[1][0][b_at], pointer[1][1][b_at])
    d = h_at.shape[1]
    key = rows[..., :d]
    h = head.ln_q(h_at)
    n, k, _ = boxes.shape
    member = torch.zeros(n, k)
    for r, (b, o) in enumerate(batch["at_object"]):
        objs = cache["objects"][scene_ids[b]]
        same = torch.tensor([ob["box"] for ob in objs if ob["shape"] == objs[o]["shape"]], dtype=torch.float32)
        iou = box_iou_giou(boxes[r].repeat_interleave(len(same), 0), same.repeat(k, 1))[0].view(k, len(same))
        member[r] = (iou.max(1).values >= 0.5).float() * valid[r]
    bce = F.binary_cross_entropy_with_logits(head.spatial.member_logits(h, key), member, reduction="none")
    losses["group"] = args.spatial_weight * (bce * valid).sum() / valid.sum().clamp(min=1)
    anchors = torch.tensor(batch["at_anchor"])
    sel = anchors >= 0
    if sel.any():
        gt = torch.tensor([cache["objects"][scene_ids[int(b)]][int(a)]["box"] for b, a in zip(b_at[sel], anchors[sel])],
                          dtype=torch.float32)
        target = pointer_targets(pointer[1], b_at[sel], gt)  # 0 = the anchor has no slot
        ok = target > 0
        if ok.any():
            logits = head.spatial.anchor_logits(h[sel][ok], key[sel][ok], valid[sel][ok])
            losses["anchor"] = args.spatial_weight * F.cross_entropy(logits, target[ok] - 1)
            stats["anchor_acc"] = (logits.detach().argmax(1) == target[ok] - 1).float().mean().item()


def lr_at(step, total, base, warmup=200):
    if step < warmup:
        return base * (step + 1) / warmup
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup)))))


def save(path, model, opt, step, args):
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                "config": model.config.to_dict(), "args": vars(args)}, tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="run folder (checkpoint, log); resumes if it has a checkpoint")
    ap.add_argument("--cache", help="scene cache (default RUN/../scenes_train.pt, built if missing)")
    ap.add_argument("--scenes", type=int, default=30000)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max-len", type=int, default=224)
    ap.add_argument("--stage1", type=float, default=0.3)
    ap.add_argument("--box-weight", type=float, default=4.0)
    ap.add_argument("--lm-weight", type=float, default=1.0, help="weight of the language-model losses (answers and the "
                    "region describer): in the shared decoder the box losses' gradients are ~7x the LM's at weight 1")
    ap.add_argument("--mask-objects", type=int, default=24)
    ap.add_argument("--extra-images", type=int, default=0, help="images per step beyond the conversations' own, "
                    "for the perception and phrase-locator losses only")
    ap.add_argument("--phrases-per-image", type=int, default=8, help="cheap locator queries per image (0 = none)")
    ap.add_argument("--region-objects", type=int, default=64)
    ap.add_argument("--regions-per-image", type=int, default=0, help="cheap region-caption queries per image (0 = none)")
    ap.add_argument("--task-weights", default="", help="override conversation task weights, e.g. gcap=5,count=3")
    ap.add_argument("--init", help="start from these weights (e.g. models/default/pytorch_model.pt) with a fresh "
                    "optimizer and schedule; ignored when the run folder already has a checkpoint")
    ap.add_argument("--object-tokens", type=int, default=0, help="object-level image tokens after the grid tokens "
                    "(proposals -> region embeddings; 0 = none); ignored when resuming")
    ap.add_argument("--object-pointer", action="store_true", help="the box decoder may pick one of the object "
                    "tokens' boxes (a pointer over them) instead of regressing one; needs object tokens")
    ap.add_argument("--spatial-pointer", action="store_true", help="the object pointer also weighs where each object "
                    "lies relative to an anchor object and to its group (relations, ordinals); new parts start at zero")
    ap.add_argument("--spatial-gate", action="store_true", help="the spatial terms count only for the slots in the "
                    "named group (membership x (relation + rank))")
    ap.add_argument("--spatial-weight", type=float, default=1.0, help="the spatial pointer's group and anchor losses")
    ap.add_argument("--spatial-lr-scale", type=float, default=1.0, help="learning-rate factor of the spatial "
                    "pointer's parameters (new parts joining trained ones)")
    ap.add_argument("--pointer-weight", type=float, default=2.0)
    ap.add_argument("--referent-weight", type=float, default=0.0, help="object pointer at each answer's <assistant> "
                    "token to the object its first region names (the question resolved before the answer); 0 = off")
    ap.add_argument("--minutes", type=float, default=0, help="stop (with a checkpoint) after this many minutes")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for item in filter(None, args.task_weights.split(",")):
        name, weight = item.split("=")
        TASK_WEIGHT_OVERRIDES[name.strip()] = float(weight)
    os.makedirs(args.run, exist_ok=True)
    cache_path = args.cache or os.path.join(os.path.dirname(os.path.abspath(args.run)), "scenes_train.pt")
    if not os.path.exists(cache_path):
        from scenes import build_cache
        build_cache(cache_path, args.scenes, seed=1)
    cache = load_cache(cache_path)
    tok = WordTokenizer()
    args.assistant_id = tok.id("<assistant>")
    ckpt_path = os.path.join(args.run, "checkpoint.pt")
    resumed = torch.load(ckpt_path) if os.path.exists(ckpt_path) else None
    config = ModelConfig(**resumed["config"]) if resumed else ModelConfig(
        vocab=len(tok), object_tokens=args.object_tokens, object_pointer=args.object_pointer and args.object_tokens > 0,
        spatial_pointer=args.spatial_pointer and args.object_pointer and args.object_tokens > 0,
        spatial_gate=args.spatial_gate)
    model = GroundingModel(config)
    # no weight decay on biases, norms, token embeddings and position tables
    def decays(name, p):
        return p.dim() >= 2 and not ({"pos", "loc_pos", "tok", "kind", "empty", "slot"} & set(name.split(".")))
    def spatial(name):
        return ".spatial." in name
    groups = []
    for scale, part in ((1.0, lambda n: not spatial(n)), (args.spatial_lr_scale, spatial)):
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad and part(n)]
        groups += [{"params": [p for n, p in named if decays(n, p)], "weight_decay": 0.01, "scale": scale},
                   {"params": [p for n, p in named if not decays(n, p)], "weight_decay": 0.0, "scale": scale}]
    groups = [g for g in groups if g["params"]]  # no spatial pointer: the two groups of before
    opt = torch.optim.AdamW(groups, lr=args.lr)
    step = 0
    if resumed:
        ck = resumed
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        for group, given in zip(opt.param_groups, groups):
            group["scale"] = given["scale"]  # this run's --spatial-lr-scale, not the saved one
        step = ck["step"]
        print(f"resumed at step {step}")
    elif args.init:
        own = model.state_dict()
        given = torch.load(args.init, map_location="cpu")["model"]
        same = {k: v for k, v in given.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(same, strict=False)
        print(f"initialised from {args.init}: {len(same)} of {len(own)} tensors; new: "
              f"{sorted({k.split('.')[0] + '.' + k.split('.')[1] for k in own if k not in same})}")
    rng = np.random.default_rng(1000 + step)
    torch.manual_seed(1000 + step)
    model.train()
    log = open(os.path.join(args.run, "train.log"), "a")
    t0, last = time.time(), time.time()
    avg = {}
    while step < args.steps:
        stage = 1 if step < args.stage1 * args.steps else 2
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr) * group.get("scale", 1.0)
        losses, stats = train_step(model, cache, tok, rng, stage, model.config, args)
        loss = sum(losses.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        for k, v in list(losses.items()) + list(stats.items()):
            v = float(v)
            avg[k] = v if k not in avg else 0.95 * avg[k] + 0.05 * v
        if step % 20 == 0 or step == args.steps:
            rate = (time.time() - last) / 20
            last = time.time()
            eta = rate * (args.steps - step) / 60
            line = f"step {step}/{args.steps} stage {stage} " + " ".join(f"{k} {v:.3f}" for k, v in avg.items()) \
                + f" | {rate:.2f}s/step eta {eta:.0f} min"
            print(line, flush=True)
            log.write(line + "\n"); log.flush()
        if step % 250 == 0:
            save(ckpt_path, model, opt, step, args)
        if args.minutes and time.time() - t0 > args.minutes * 60:
            print("time budget reached")
            break
    save(ckpt_path, model, opt, step, args)
    with open(os.path.join(args.run, "config.json"), "w") as f:
        json.dump(model.config.to_dict(), f, indent=1)
    print(f"saved {ckpt_path} at step {step}")


if __name__ == "__main__":
    main()

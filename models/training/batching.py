"""Turns conversations about cached scenes into training tensors.

Sequence layout (the manifest's prompt template): `<user> <image> user text <end> <assistant> answer <end> ...`
with `<image>` expanded to one position per image token. Every `<boxes>` position gets the box encoder's
embedding of its box instead of a token embedding; every `<at>` of an answer is a box target.
"""
from __future__ import annotations

import numpy as np
import torch

from conversations import jitter_box, sample_conversation
from scenes import CachedScene
from tokenizer import WordTokenizer


class Encoded:
    """One conversation as token ids plus the side information the losses need."""

    def __init__(self):
        self.ids = []
        self.target = []  # True where the token is one the model must predict (answer tokens except <boxes>)
        self.slots = []  # (position, box) for every <boxes>
        self.ats = []  # (position, object index) for every answer <at>
        self.anchors = []  # per answer <at>: the object index of the relation's anchor, or -1
        self.words = []  # (position, object index) for words inside <p> ... </p>


def encode_turns(tok: WordTokenizer, turns, image_tokens, scene=None, rng=None, slot_jitter=0.0):
    """Builds the full sequence of a conversation. Answer slots get the object's box (jittered in training
    so the model tolerates its own imprecise boxes); user slots get the turn's drawn box."""
    e = Encoded()
    at_id, boxes_id, p_open, p_close = tok.id("<at>"), tok.id("<boxes>"), tok.id("<p>"), tok.id("</p>")

    def add(ids, target):
        e.ids.extend(ids)
        e.target.extend([target] * len(ids))

    for k, t in enumerate(turns):
        add([tok.id("<user>")], False)
        if k == 0:
            add([tok.id("<image>")] * image_tokens, False)
        user_ids = tok.encode(t.user)
        boxes = iter(t.user_boxes)
        for i in user_ids:
            if i == boxes_id:
                e.slots.append((len(e.ids), list(next(boxes))))
            add([i], False)
        add([tok.id("<end>"), tok.id("<assistant>")], False)
        objs = iter(t.answer_objects)
        phrase = []
        inside = False
        for i in tok.encode(t.answer):
            pos = len(e.ids)
            if i == p_open:
                inside, phrase = True, []
            elif i == p_close:
                inside = False
            elif inside:
                phrase.append(pos)
            if i == at_id:
                o = next(objs)
                e.ats.append((pos, o))
                e.anchors.append(t.info.get("anchor", -1))
                e.words.extend((p, o) for p in phrase)
            if i == boxes_id:
                o = e.ats[-1][1]
                box = scene.objects[o].nbox if scene is not None else [0, 0, 0, 0]
                if slot_jitter and rng is not None:
                    box = jitter_box(box, rng, slot_jitter)
                e.slots.append((pos, list(box)))
            add([i], i != boxes_id)
        add([tok.id("<end>")], True)
    return e


def sample_encoded(cache, tok, rng, stage, image_tokens, max_len):
    """A random conversation about a random cached scene, cut to whole turns that fit max_len."""
    n = len(cache["objects"])
    while True:
        s = int(rng.integers(n))
        scene = CachedScene(cache["objects"][s])
        turns = sample_conversation(scene, rng, stage=stage)
        while turns:
            enc = encode_turns(tok, turns, image_tokens, scene, rng, slot_jitter=0.03)
            if len(enc.ids) <= max_len:
                return s, enc
            turns = turns[:-1]


def collate(encs, pad_id):
    n, length = len(encs), max(len(e.ids) for e in encs)
    ids = torch.full((n, length), pad_id, dtype=torch.long)
    target = torch.zeros((n, length), dtype=torch.bool)
    for b, e in enumerate(encs):
        ids[b, :len(e.ids)] = torch.tensor(e.ids)
        target[b, :len(e.ids)] = torch.tensor(e.target)
    slot_b = [b for b, e in enumerate(encs) for _ in e.slots]
    slot_t = [p for e in encs for p, _ in e.slots]
    slot_box = [box for e in encs for _, box in e.slots]
    return {
        "ids": ids, "target": target,
        "slot_index": (torch.tensor(slot_b, dtype=torch.long), torch.tensor(slot_t, dtype=torch.long)),
        "slot_box": torch.tensor(slot_box, dtype=torch.float32).view(-1, 4),
        "at_index": (torch.tensor([b for b, e in enumerate(encs) for _ in e.ats], dtype=torch.long),
                     torch.tensor([p for e in encs for p, _ in e.ats], dtype=torch.long)),
        "at_object": [(b, o) for b, e in enumerate(encs) for _, o in e.ats],
        "at_anchor": [a for e in encs for a in e.anchors],
        "word_index": (torch.tensor([b for b, e in enumerate(encs) for _ in e.words], dtype=torch.long),
                       torch.tensor([p for e in encs for p, _ in e.words], dtype=torch.long)),
        "word_object": [(b, o) for b, e in enumerate(encs) for _, o in e.words],
    }


def image_batch(cache, scene_ids):
    imgs = torch.from_numpy(np.stack([cache["images"][s] for s in scene_ids])).float() / 255.0
    return imgs


def object_masks(cache, scene, size):
    """Visible masks of a cached scene's objects, [K, size, size] float."""
    a, b = cache["mask_offsets"][scene], cache["mask_offsets"][scene + 1]
    bits = np.unpackbits(cache["masks"][a:b], axis=1)[:, :size * size]
    return torch.from_numpy(bits.reshape(-1, size, size).astype(np.float32))

"""Multi-turn grounded conversations about a scene, with their ground truth.

A turn is (user text, user boxes, answer text, answer objects). Texts are in the model's own markup:
a user region is the token <boxes>; an answer names an object as `<p> words </p> <at> <boxes>`.
``answer_objects`` lists, for each <at> of the answer in order, the index of the scene object it locates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from world import COLORS, PLURALS, SHAPES, SIZES, Scene

TASKS = ["rec", "res", "multi", "region", "gcap", "count", "exist", "relation", "ordinal"]
MARGIN = 0.04  # relative separation needed before "left of", "leftmost", "second from the left" are used


@dataclass
class Turn:
    user: str
    answer: str
    user_boxes: list = field(default_factory=list)  # normalized boxes for the <boxes> slots of the user text
    answer_objects: list = field(default_factory=list)  # scene object index per <at> of the answer
    task: str = ""
    info: dict = field(default_factory=dict)


def grounded(obj, idx, article="a"):
    return f"<p> {obj.description(article)} </p> <at> <boxes>", idx


def echoed(expression):
    """A relation or ordinal answer repeats the question's expression as its phrase ("<p> the circle left of the
    green star </p> <at> <boxes> ."): the object pointer at <at> resolves it (the box is the answer), instead of the
    decoder first naming the target's attributes word by word, which it got wrong far more often than the pointer
    picked wrong (and, trained only on right names, it then followed its own wrong name)."""
    return f"<p> {expression} </p> <at> <boxes> ."


def listing(scene: Scene, idxs):
    """`n : <p> a ... </p> <at> <boxes> , <p> ... </p> <at> <boxes> .` ordered left to right."""
    idxs = sorted(idxs, key=lambda i: scene.objects[i].center[0])
    if not idxs:
        return "0 .", []
    parts = [grounded(scene.objects[i], i)[0] for i in idxs]
    return f"{len(idxs)} : " + " , ".join(parts) + " .", idxs


def _unique_expression(scene, i, rng):
    """A short attribute expression that picks out object i only, or None."""
    o = scene.objects[i]
    options = [("shape",), ("color", "shape"), ("size", "shape"), ("size", "color", "shape")]
    good = []
    for keys in options:
        n = sum(all(getattr(p, k) == getattr(o, k) for k in keys) for p in scene.objects)
        if n == 1:
            good.append(keys)
    if not good:
        return None
    keys = good[rng.integers(len(good))] if rng.random() < 0.5 else good[-1]
    return "the " + " ".join(getattr(o, k) for k in keys)


def _axis(scene, which):
    s = float(scene.side)
    if which in ("left", "right"):
        return lambda o: o.center[0] / s
    return lambda o: o.center[1] / s


def task_rec(scene, rng, verb=None):
    cands = [(i, e) for i in range(len(scene.objects)) if (e := _unique_expression(scene, i, rng))]
    if not cands:
        return None
    i, expr = cands[rng.integers(len(cands))]
    verb = verb or ["where is {} ?", "find {} .", "locate {} .", "show me {} ."][rng.integers(4)]
    return Turn(verb.format(expr), grounded(scene.objects[i], i, "the")[0] + " .", [], [i], "rec", {"target": i})


def task_res(scene, rng):
    t = task_rec(scene, rng, verb="segment {} .")
    if t:
        t.task = "res"
    return t


def task_relation(scene, rng):
    """"the circle left of the green star": the only object of that shape on that side of a unique anchor."""
    rel_words = {"left": "left of", "right": "right of", "above": "above", "below": "below"}
    objs = scene.objects
    tries = []
    for a in range(len(objs)):
        anchor = _unique_expression(scene, a, rng)
        if not anchor:
            continue
        for rel in rel_words:
            ax = _axis(scene, "left" if rel in ("left", "right") else "top")
            sign = -1 if rel in ("left", "above") else 1
            for shape in SHAPES:
                gaps = [sign * (ax(o) - ax(objs[a])) for i, o in enumerate(objs) if i != a and o.shape == shape]
                side = [i for i, o in enumerate(objs) if i != a and o.shape == shape
                        and sign * (ax(o) - ax(objs[a])) > MARGIN]
                # no other object of the shape barely on that side (within MARGIN): "left of" would be unclear
                clear = not any(0 < g <= MARGIN for g in gaps)
                if len(side) == 1 and clear and sum(o.shape == shape for o in objs) >= 2:
                    tries.append((side[0], f"the {shape} {rel_words[rel]} {anchor}", a))
    if not tries:
        return None
    i, expr, a = tries[rng.integers(len(tries))]
    return Turn(f"where is {expr} ?", echoed(expr), [], [i], "relation", {"target": i, "anchor": a})


def task_ordinal(scene, rng):
    """"the leftmost triangle" / "the second square from the left"."""
    options = []
    for shape in SHAPES:
        group = [i for i, o in enumerate(scene.objects) if o.shape == shape]
        if len(group) < 2:
            continue
        for direction in ("left", "right", "top", "bottom"):
            ax = _axis(scene, direction)
            order = sorted(group, key=lambda i: ax(scene.objects[i]), reverse=direction in ("right", "bottom"))
            vals = [ax(scene.objects[i]) for i in order]
            for rank in range(min(3, len(order))):
                gaps = [abs(vals[rank] - vals[k]) for k in range(len(order)) if k != rank]
                if min(gaps) <= MARGIN:
                    continue
                if rank == 0 and rng.random() < 0.5:
                    most = {"left": "leftmost", "right": "rightmost", "top": "topmost", "bottom": "bottommost"}[direction]
                    expr = f"the {most} {shape}"
                else:
                    expr = f"the {['first', 'second', 'third'][rank]} {shape} from the {direction}"
                options.append((order[rank], expr))
    if not options:
        return None
    i, expr = options[rng.integers(len(options))]
    return Turn(f"where is {expr} ?", echoed(expr), [], [i], "ordinal", {"target": i})


def _selector(scene, rng):
    """A class of objects by shape, colour or both, with a phrase for questions."""
    o = scene.objects[rng.integers(len(scene.objects))] if rng.random() < 0.8 else None
    shape = o.shape if o else SHAPES[rng.integers(len(SHAPES))]
    color = o.color if o else list(COLORS)[rng.integers(len(COLORS))]
    kind = rng.integers(3)
    if kind == 0:
        return (lambda p: p.shape == shape), PLURALS[shape]
    if kind == 1:
        return (lambda p: p.color == color), f"{color} objects"
    return (lambda p: p.color == color and p.shape == shape), f"{color} {PLURALS[shape]}"


def task_multi(scene, rng):
    pred, words = _selector(scene, rng)
    idxs = [i for i, o in enumerate(scene.objects) if pred(o)]
    answer, order = listing(scene, idxs)
    return Turn(f"find all {words} .", answer, [], order, "multi", {"targets": order})


def task_count(scene, rng):
    pred, words = _selector(scene, rng)
    idxs = [i for i, o in enumerate(scene.objects) if pred(o)]
    answer, order = listing(scene, idxs)
    return Turn(f"how many {words} are there ?", answer, [], order, "count", {"count": len(idxs), "targets": order})


def task_exist(scene, rng):
    objs = scene.objects
    if rng.random() < 0.5:
        o = objs[rng.integers(len(objs))]
        color, shape = o.color, o.shape
    else:  # a hard negative: shares the colour or the shape of something present
        for _ in range(50):
            o = objs[rng.integers(len(objs))]
            if rng.random() < 0.5:
                color, shape = o.color, SHAPES[rng.integers(len(SHAPES))]
            else:
                color, shape = list(COLORS)[rng.integers(len(COLORS))], o.shape
            if not any(p.color == color and p.shape == shape for p in objs):
                break
    idxs = [i for i, p in enumerate(objs) if p.color == color and p.shape == shape]
    article = "an" if color == "orange" else "a"
    if not idxs:
        return Turn(f"is there {article} {color} {shape} ?", "no .", [], [], "exist", {"present": False})
    _, order = listing(scene, idxs)
    answer = "yes : " + " , ".join(grounded(objs[i], i)[0] for i in order) + " ."
    return Turn(f"is there {article} {color} {shape} ?", answer, [], order, "exist", {"present": True})


def jitter_box(box, rng, amount=0.06):
    """A user-drawn box is never exact: move each side by up to `amount` of the box size."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    d = rng.uniform(-amount, amount, 4) * np.array([w, h, w, h])
    nb = [x1 + d[0], y1 + d[1], x2 + d[2], y2 + d[3]]
    return [float(min(max(v, 0.0), 1.0)) for v in nb]


def task_region(scene, rng, idx=None):
    i = int(rng.integers(len(scene.objects))) if idx is None else idx
    o = scene.objects[i]
    box = jitter_box(scene.normalized_box(o), rng)
    if rng.random() < 0.75:
        return Turn("what is this <boxes> ?", f"{o.description()} .", [box], [], "region", {"target": i})
    if rng.random() < 0.5:
        return Turn("what color is this <boxes> ?", f"{o.color} .", [box], [], "region_color", {"target": i})
    return Turn("what shape is this <boxes> ?", f"{o.shape} .", [box], [], "region_shape", {"target": i})


def task_gcap(scene, rng):
    order = sorted(range(len(scene.objects)), key=lambda i: scene.objects[i].center[0])
    answer = " , ".join(grounded(scene.objects[i], i)[0] for i in order) + " ."
    return Turn("describe the image .", answer, [], order, "gcap", {"targets": order})


GENERATORS = {
    "rec": task_rec, "res": task_res, "multi": task_multi, "region": task_region, "gcap": task_gcap,
    "count": task_count, "exist": task_exist, "relation": task_relation, "ordinal": task_ordinal,
}

# Curriculum (TinyGroundingGPT style): single objects and attributes first, then relations and long answers.
STAGE_WEIGHTS = {
    1: {"rec": 3, "res": 1, "region": 3, "exist": 2, "gcap": 1, "multi": 1, "count": 1, "relation": 0.3, "ordinal": 0.3},
    2: {"rec": 2, "res": 1, "region": 2, "exist": 2, "gcap": 1.5, "multi": 1.5, "count": 1.5, "relation": 1.5, "ordinal": 1.5},
}


# set by train.py --task-weights (e.g. gcap=5): a stage's mix with some tasks reweighted
TASK_WEIGHT_OVERRIDES = {}


def sample_conversation(scene: Scene, rng, stage=2, max_turns=4, tasks=None):
    """1-4 turns of mixed tasks; a later turn may ask about a region located in an earlier answer."""
    weights = {**STAGE_WEIGHTS[stage], **TASK_WEIGHT_OVERRIDES}
    names = tasks or list(weights)
    p = np.array([weights.get(n, 1.0) for n in names], dtype=np.float64)
    p /= p.sum()
    n_turns = int(rng.integers(1, max_turns + 1))
    turns = []
    for _ in range(n_turns):
        earlier = [i for t in turns for i in t.answer_objects]
        if earlier and rng.random() < 0.3:
            t = task_region(scene, rng, idx=earlier[rng.integers(len(earlier))])
            t.info["refers_back"] = True
        else:
            t = None
            for _try in range(5):
                t = GENERATORS[names[rng.choice(len(names), p=p)]](scene, rng)
                if t is not None:
                    break
        if t is not None:
            turns.append(t)
    return turns

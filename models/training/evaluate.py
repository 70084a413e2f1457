"""Evaluates a trained model on held-out scenes and writes EVAL.md.

    /usr/bin/python3 models/training/evaluate.py 

Scenes use seeds from 900000000 on; training scenes come from seeds below 200000, so they never meet.
Every answer is generated greedily by the reference decode loop (infer.py), the same algorithm as the
Java engine, from full-resolution rendered scenes; masks are scored at the original image resolution.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conversations import task_count, task_exist, task_gcap, task_multi, task_ordinal, task_rec, task_region, \
    task_relation, task_res, Turn  # noqa: E402
from infer import Reference, box_iou, clip_box, load_model, mask_to_image  # noqa: E402
from world import random_style, render_scene  # noqa: E402

EVAL_SEED = 900_000_000
TASK_SEEDS = {"rec": 1, "res": 2, "multi": 3, "gcap": 4, "count": 5, "exist": 6, "region": 7, "dense": 8, "followup": 9,
              "crowded": 10, "restyled": 11}


def scenes(task, n):
    """n (scene, turn) pairs for a task; each task has its own seed range."""
    rng = np.random.default_rng(EVAL_SEED + TASK_SEEDS[task])
    out = []
    while len(out) < n:
        if task == "crowded":
            scene = render_scene(rng, min_objects=6)
        elif task == "restyled":
            scene = render_scene(rng, style=random_style(rng))
        else:
            scene = render_scene(rng)
        rec_mix = lambda s, r: [task_rec, task_relation, task_ordinal][r.integers(3)](s, r)  # noqa: E731
        gen = {"rec": rec_mix, "crowded": rec_mix, "restyled": rec_mix,
               "res": task_res, "multi": task_multi, "gcap": task_gcap, "count": task_count, "exist": task_exist,
               "region": lambda s, r: _describe_region(s, r), "dense": lambda s, r: Turn("", ""),
               "followup": task_rec}[task]
        turn = gen(scene, rng)
        if turn is not None:
            out.append((scene, turn))
    return out


def _describe_region(scene, rng):
    for _ in range(10):
        t = task_region(scene, rng)
        if t.task == "region":
            return t
    return None


def match_f1(pred, gt, thr=0.5):
    """Greedy one-to-one matching by IoU; returns (true positives, len(pred), len(gt))."""
    used, tp = set(), 0
    for p in pred:
        best, bi = 0.0, -1
        for j, g in enumerate(gt):
            if j not in used and box_iou(p, g) > best:
                best, bi = box_iou(p, g), j
        if best >= thr:
            used.add(bi)
            tp += 1
    return tp, len(pred), len(gt)


def f1(tp, npred, ngt):
    p = tp / npred if npred else 1.0
    r = tp / ngt if ngt else 1.0
    return 2 * p * r / (p + r) if p + r else 0.0


def first_region_hits(ans, gt):
    """REC scoring: the answer's first region overlaps the target's box with IoU >= 0.5."""
    return bool(ans.regions) and box_iou(ans.regions[0].box, gt) >= 0.5


class Evaluator:
    def __init__(self, ref: Reference, n: int, dense_images: int):
        self.ref, self.n, self.dense_images = ref, n, dense_images
        self.rows = []
        self.latency = []

    def answer(self, scene, turn, history=()):
        feats = self.ref.encode_image(np.asarray(scene.image))
        ans = self.ref.generate(feats, list(history), turn.user, turn.user_boxes)
        self.latency.append(ans.timings["total_ms"])
        return ans, feats.feature_map

    def text(self, ans):
        return self.ref.text([t for t in ans.tokens])

    def run_rec(self):
        ok = pts_in = pts_all = 0
        by_kind, by_count = {}, {}
        for scene, turn in scenes("rec", self.n):
            ans, _ = self.answer(scene, turn)
            target = turn.info["target"]
            gt = scene.normalized_box(scene.objects[target])
            hit = first_region_hits(ans, gt)
            ok += hit
            by_kind.setdefault(turn.task, []).append(hit)
            n_obj = len(scene.objects)
            by_count.setdefault("1-2" if n_obj <= 2 else "3-5" if n_obj <= 5 else "6-8", []).append(hit)
            # per-word alignment: words of the region phrase must point inside the referred object
            mask = scene.objects[target].mask
            at = ans.regions[0].token_index if ans.regions else len(ans.tokens)
            for idx, x, y in ans.points:
                if idx < at:
                    pts_all += 1
                    px, py = int(x * scene.side), int(y * scene.side)
                    pts_in += int(0 <= py < scene.height and 0 <= px < scene.width and mask[py, px])
        self.rows.append(("REC Acc@0.5 (attributes, relations, ordinals)", ok / self.n, self.n, ">= 0.95"))
        for kind in ("rec", "relation", "ordinal"):
            hits = by_kind.get(kind, [])
            self.rows.append((f"REC Acc@0.5 (mix above), {kind} questions", float(np.mean(hits)) if hits else 0.0, len(hits), ""))
        for bucket in ("1-2", "3-5", "6-8"):
            hits = by_count.get(bucket, [])
            self.rows.append((f"REC Acc@0.5 (mix above), scenes of {bucket} objects", float(np.mean(hits)) if hits else 0.0,
                              len(hits), ""))
        self.rows.append(("Per-word point-in-object rate (REC phrases)", pts_in / max(1, pts_all), pts_all, ">= 0.85"))

    def run_crowded(self, task="crowded", label="REC Acc@0.5, 6-8 objects", target=">= 0.90"):
        """The same questions on scenes of 6-8 objects only (or drawn in another style)."""
        ok = 0
        for scene, turn in scenes(task, self.n):
            ans, _ = self.answer(scene, turn)
            gt = scene.normalized_box(scene.objects[turn.info["target"]])
            ok += first_region_hits(ans, gt)
        self.rows.append((label, ok / self.n, self.n, target))

    def run_res(self):
        ious, inter, union = [], 0, 0
        for scene, turn in scenes("res", self.n):
            ans, fm = self.answer(scene, turn)
            gt = scene.objects[turn.info["target"]].mask
            if ans.regions:
                logits, _ = self.ref.mask(fm, ans.regions[0].box)
                pred = mask_to_image(logits, ans.regions[0].box, scene.width, scene.height,
                                     self.ref.c.mask_crop_expand)
            else:
                pred = np.zeros_like(gt)
            i, u = int((pred & gt).sum()), int((pred | gt).sum())
            ious.append(i / u if u else 0.0)
            inter, union = inter + i, union + u
        self.rows.append(("RES mIoU", float(np.mean(ious)), self.n, ">= 0.85"))
        self.rows.append(("RES cIoU", inter / max(1, union), self.n, ""))

    def run_boxes(self, task, label):
        tp = npred = ngt = 0
        for scene, turn in scenes(task, self.n):
            ans, _ = self.answer(scene, turn)
            gt = [scene.normalized_box(scene.objects[i]) for i in turn.answer_objects]
            a, b, c = match_f1([r.box for r in ans.regions], gt)
            tp, npred, ngt = tp + a, npred + b, ngt + c
        self.rows.append((label, f1(tp, npred, ngt), self.n, ""))

    def run_region(self):
        ok = 0
        for scene, turn in scenes("region", self.n):
            ans, _ = self.answer(scene, turn)
            ok += int(self.text(ans).strip() == turn.answer.strip())
        self.rows.append(("Region caption exact match (user box in)", ok / self.n, self.n, ">= 0.95"))

    def run_followup(self):
        """Turn 2 asks about the region the model itself located in turn 1 ("what is this <boxes>?")."""
        ok = 0
        for scene, turn in scenes("followup", self.n):
            ans, _ = self.answer(scene, turn)
            if not ans.regions:
                continue
            o = scene.objects[turn.info["target"]]
            boxes = [clip_box(r.box, scene) for r in ans.regions]
            hist = [(turn.user, [], ans.tokens, boxes)]
            follow = Turn("what is this <boxes> ?", f"{o.description()} .", [boxes[0]])
            ans2, _ = self.answer(scene, follow, hist)
            ok += int(self.text(ans2).strip() == follow.answer)
        self.rows.append(("Multi-turn: caption of the region located in turn 1", ok / self.n, self.n, ""))

    def run_count(self):
        ok = 0
        for scene, turn in scenes("count", self.n):
            ans, _ = self.answer(scene, turn)
            words = self.text(ans).split()
            ok += int(bool(words) and words[0] == str(turn.info["count"]))
        self.rows.append(("Counting accuracy", ok / self.n, self.n, ">= 0.90"))

    def run_exist(self):
        tp = fp = fn = tn = 0
        for scene, turn in scenes("exist", self.n):
            ans, _ = self.answer(scene, turn)
            says_yes = self.text(ans).startswith("yes")
            present = turn.info["present"]
            tp += present and says_yes
            fp += (not present) and says_yes
            fn += present and not says_yes
            tn += (not present) and not says_yes
        prec = tp / max(1, tp + fp)
        rec = tp / max(1, tp + fn)
        self.rows.append(("Existence accuracy (POPE style)", (tp + tn) / self.n, self.n, ""))
        self.rows.append(("Existence F1", 2 * prec * rec / max(1e-9, prec + rec), self.n, ">= 0.95"))
        self.rows.append(("Existence yes-ratio (truth: ~0.5)", (tp + fp) / self.n, self.n, ""))

    def run_dense(self):
        hit = total = 0
        for scene, _ in scenes("dense", self.dense_images):
            feats = self.ref.encode_image(np.asarray(scene.image))
            captions = []
            for box, _score in self.ref.proposals(feats.feature_map):
                ans = self.ref.generate(feats, [], "what is this <boxes> ?", [box])
                captions.append((box, self.text(ans).strip()))
            for o in scene.objects:
                gt = scene.normalized_box(o)
                want = f"{o.description()} ."
                total += 1
                hit += any(box_iou(b, gt) >= 0.5 and c == want for b, c in captions)
        self.rows.append(("Dense captioning recall@0.5 (box and caption right)", hit / max(1, total), total, ""))

    def markdown(self, command, seconds, budget="", bundle="models/candidate"):
        lines = [f"# Evaluation of the model in {bundle}", "",
                 f"Produced by `{command}` ({seconds / 60:.1f} min on this machine, one process per core).",
                 *([f"Training budget of these weights: {budget}", ""] if budget else []),
                 "Held-out scenes (seeds >= 900000000, disjoint from training), greedy decoding with the",
                 "reference pix2emb loop, masks scored at original image resolution.", "",
                 "| metric | value | samples | target |", "|---|---|---|---|"]
        for name, value, count, target in self.rows:
            lines.append(f"| {name} | {value:.3f} | {count} | {target} |")
        lines += ["", f"Median answer latency in PyTorch eager during evaluation (one thread, two processes): "
                      f"{np.median(self.latency):.1f} ms", ""]
        return "\n".join(lines)


# Relative cost of each evaluation (answers x length), to share them between worker processes.
STEP_COST = {"rec": 1.0, "crowded": 1.0, "restyled": 1.0, "res": 1.2, "multi": 1.0, "region": 0.6, "gcap": 1.5,
             "count": 1.0, "exist": 0.8, "followup": 1.6, "dense": 2.5}


def evaluation_steps(ev):
    return {
        "rec": ev.run_rec, "crowded": ev.run_crowded,
        "restyled": lambda: ev.run_crowded("restyled", "REC Acc@0.5, restyled scenes (other colour values, outlines, "
                                           "blur, noise, light backgrounds)", ""),
        "res": ev.run_res, "multi": lambda: ev.run_boxes("multi", "Multi-box F1@0.5 (find all ...)"),
        "region": ev.run_region, "gcap": lambda: ev.run_boxes("gcap", "Grounded captioning box F1@0.5"),
        "count": ev.run_count, "exist": ev.run_exist, "followup": ev.run_followup, "dense": ev.run_dense,
    }


def run_part(args, names, threads):
    """Runs the named evaluations in this process; returns {name: rows} and the answer latencies."""
    import torch
    torch.set_num_threads(threads)
    ev = Evaluator(Reference(load_model(args.checkpoint)), args.n, args.dense_images)
    steps, out, t0 = evaluation_steps(ev), {}, time.time()
    for name in names:
        before = len(ev.rows)
        steps[name]()
        out[name] = ev.rows[before:]
        for row in out[name]:
            print(f"{row[0]}: {row[1]:.3f} ({row[2]})  {time.time() - t0:.0f}s", flush=True)
    return out, ev.latency


def _run_part(job):
    return run_part(*job)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="models/candidate/pytorch_model.pt")
    ap.add_argument("--n", type=int, default=1000, help="conversations per task")
    ap.add_argument("--dense-images", type=int, default=250)
    ap.add_argument("--out", default="models/candidate/EVAL.md")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="processes, one thread each (small models gain more from processes than from threads)")
    ap.add_argument("--budget", default="", help="a line on the training budget of these weights, for EVAL.md")
    ap.add_argument("--quick", action="store_true", help="the <= 5 minute experiment check: 200 samples per task, "
                    "no dense captioning, printed instead of written (EXPERIMENTS.md rows report it)")
    a = ap.parse_args()
    if a.quick:
        a.n = 200
    names = [n for n in STEP_COST if not (a.quick and n == "dense")]
    parts = [[] for _ in range(max(1, a.workers))]
    load = [0.0] * len(parts)
    for name in sorted(names, key=lambda n: -STEP_COST[n]):
        k = load.index(min(load))
        parts[k].append(name)
        load[k] += STEP_COST[name]
    t0 = time.time()
    if len(parts) == 1:
        results = [run_part(a, parts[0], 2)]
    else:
        import multiprocessing as mp
        with mp.get_context("fork").Pool(len(parts)) as pool:
            results = pool.map(_run_part, [(a, p, 1) for p in parts])
    rows = {k: v for r, _ in results for k, v in r.items()}
    ev = Evaluator(None, a.n, a.dense_images)
    ev.rows = [row for name in names for row in rows[name]]
    ev.latency = [x for _, lat in results for x in lat]
    if a.quick:
        for r in ev.rows:
            print(f"{r[1]:.3f}  {r[0]}")
        print(f"{time.time() - t0:.0f}s")
        return
    bundle = os.path.relpath(os.path.dirname(os.path.abspath(a.out)))
    cmd = "/usr/bin/python3 models/training/evaluate.py" + ("" if a.n == 1000 else f" --n {a.n}") \
        + ("" if bundle == "models/candidate" else f" --checkpoint {bundle}/pytorch_model.pt --out {a.out}")
    md = ev.markdown(cmd, time.time() - t0, a.budget, bundle)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()

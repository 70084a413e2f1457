"""PyTorch-eager latency of the bundled weights on the same image and prompt as the Java benchmark.

    /usr/bin/python3 models/training/bench_torch.py [--checkpoint ...] [--runs 30] [--threads 2]

Prints medians (ms) as JSON: image encode, time to first token, full grounded answer (encode + decode loop with
boxes + masks), decode ms per token. The Java side (bench/) reads the same golden case.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from infer import Reference, load_model  # noqa: E402

QUESTION = "describe the image ."


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="models/candidate/pytorch_model.pt")
    ap.add_argument("--image", default="models/candidate/golden/case1.png")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ref = Reference(load_model(a.checkpoint))
    rgb = np.asarray(Image.open(a.image).convert("RGB"))
    encode, first, total, per_token, tokens = [], [], [], [], 0
    for i in range(a.runs + 3):
        t0 = time.perf_counter()
        feats = ref.encode_image(rgb)
        t1 = time.perf_counter()
        ans = ref.generate(feats, [], QUESTION)
        for r in ans.regions:
            ref.mask(feats.feature_map, r.box)
        t2 = time.perf_counter()
        if i < 3:
            continue  # warm-up
        encode.append((t1 - t0) * 1000)
        first.append((t1 - t0) * 1000 + ans.timings["first_token_ms"])
        total.append((t2 - t0) * 1000)
        tokens = len(ans.tokens)
        per_token.append((ans.timings["total_ms"] - ans.timings["prefill_ms"]) / max(1, tokens))
    out = {"runtime": "pytorch-eager " + torch.__version__, "threads": a.threads, "question": QUESTION,
           "answer_tokens": tokens, "regions": len(ans.regions), "answer": ref.text(ans.tokens),
           "encode_ms": float(np.median(encode)), "first_token_ms": float(np.median(first)),
           "decode_ms_per_token": float(np.median(per_token)), "full_answer_ms": float(np.median(total))}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

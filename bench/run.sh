#!/usr/bin/env bash
# Benchmarks the Java engine and PyTorch eager on the same weights, image and prompt; writes bench/results/.
# usage: bench/run.sh [runs] [threads] [bundle]   (bundle: models/candidate, the contract-2 model the training code
# in models/training builds and runs; models/default is contract 1, whose PyTorch side needs that code at 279cfe3)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-30}"; THREADS="${2:-2}"; BUNDLE="${3:-models/candidate}"
source bench/classpath.sh
java -cp "target/bench:$CP" org.groundchat.inference.EngineBenchmark "$BUNDLE" "$BUNDLE/golden/case1.png" \
  "$RUNS" "$THREADS" | tee bench/results/java-onnxruntime.json
if [ -f "$BUNDLE/pytorch_model.pt" ]; then
  /usr/bin/python3 models/training/bench_torch.py --runs "$RUNS" --threads "$THREADS" \
    --checkpoint "$BUNDLE/pytorch_model.pt" --image "$BUNDLE/golden/case1.png" | tee bench/results/pytorch-eager.json
else
  echo "$BUNDLE/pytorch_model.pt missing: PyTorch comparison skipped" >&2
fi

#!/usr/bin/env bash
# Continuous batching on vs off: rounds of 1, 4, 8, 16 answers started at once; writes bench/results/batching.json.
# usage: bench/batch.sh [rounds] [threads] [bundle]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-10}"; THREADS="${2:-2}"; BUNDLE="${3:-models/default}"
source bench/classpath.sh
java -cp "target/bench:$CP" org.groundchat.inference.BatchBenchmark "$BUNDLE" "$ROUNDS" "$THREADS" \
  | tee bench/results/batching.json

#!/usr/bin/env bash
# The prompt cache on vs off: 4-turn conversations about one image, alternating sittings; writes
# bench/results/prompt-cache.json.
# usage: bench/prompt-cache.sh [conversations per sitting] [sittings per mode] [bundle]
set -euo pipefail
cd "$(dirname "$0")/.."
CONVERSATIONS="${1:-40}"; SITTINGS="${2:-3}"; BUNDLE="${3:-models/default}"
source bench/classpath.sh
java -cp "target/bench:$CP" org.groundchat.inference.PromptCacheBenchmark "$BUNDLE" "$CONVERSATIONS" "$SITTINGS" \
  | tee bench/results/prompt-cache.json

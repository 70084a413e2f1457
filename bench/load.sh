#!/usr/bin/env bash
# Load benchmark of the packaged app (see BENCHMARKS.md "Load"): starts it on a fresh embedded database, runs
# LoadBenchmark against it, prints the JSON and the server's RSS, stops it. Results go to bench/results/.
# usage: bench/load.sh [sessions] [seconds] [burst] [extra JVM -D options for the server...]
#   bench/load.sh 32 60                      closed loop, 32 sessions, 60 s
#   bench/load.sh 200 0 burst                200 sessions send one turn at the same moment
#   bench/load.sh 32 60 loop -Dgroundchat.inference.max-batch=1   the same with another server setting
#   WARMUP=30 bench/load.sh 32 60            30 s of the same load first, not counted (the JIT's warm-up)
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS="${1:-32}"; DURATION="${2:-60}"; MODE="${3:-loop}"; shift $(( $# < 3 ? $# : 3 ))
PORT="${BENCH_PORT:-18090}"
[ -n "${SKIP_BUILD:-}" ] || mvn -B -q package -DskipTests -DskipNpm=true
mvn -B -q dependency:build-classpath -Dmdep.outputFile=target/bench-classpath.txt >/dev/null
CP="$(tr ':' '\n' < target/bench-classpath.txt | grep -E 'jackson-(core|databind|annotations)' | paste -sd:)"
mkdir -p target/bench bench/results
javac -d target/bench -cp "$CP" bench/LoadBenchmark.java
WORK="$(mktemp -d)"; TOKEN="bench-$RANDOM$RANDOM$RANDOM"
# one account for all sessions: its per-account limits are lifted so the server's queue, not a quota, decides
java -Dgroundchat.db.dir="$WORK/pg" -Dquarkus.http.port="$PORT" -Dgroundchat.auth.bootstrap-token="$TOKEN" \
  -Dgroundchat.limits.queued-answers=100000 -Dgroundchat.limits.sockets=100000 \
  -Dgroundchat.limits.conversations-per-minute=100000 -Dgroundchat.limits.uploads-per-minute=100000 \
  "$@" -jar target/quarkus-app/quarkus-run.jar > "$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 180); do
  curl -fs "http://127.0.0.1:$PORT/q/health/ready" >/dev/null 2>&1 && break
  kill -0 $SERVER 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 1
done
java -Dserver.pid="$SERVER" -cp "target/bench:$CP" org.groundchat.bench.LoadBenchmark "http://127.0.0.1:$PORT" "$TOKEN" "$SESSIONS" "$DURATION" \
  models/default/golden/case1.png "$MODE" "${WARMUP:-0}" | tee "bench/results/load-$SESSIONS-$MODE.json"
echo "server RSS after the run: $(( $(awk '/VmRSS/ {print $2}' /proc/$SERVER/status) / 1024 )) MB (peak $(( $(awk '/VmHWM/ {print $2}' /proc/$SERVER/status) / 1024 )) MB)"

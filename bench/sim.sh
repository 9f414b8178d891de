#!/usr/bin/env bash
# Throughput of `ibench sim` with zero latency: the simulator pinned to one core, wrk on the
# other, keep-alive connections, non-streamed and streamed (16 tokens) completions.
#
#   bench/sim.sh [DURATION_S] [CONNECTIONS]
#
# Needs 2 cores. Installs wrk from Debian's packages when missing. Loopback only.
# RT=1 runs the simulator and wrk under SCHED_RR (root), so that background jobs on a shared
# machine (compilers, other tests) cannot take their cores while they measure.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNECTIONS=${2:-64}
PORT=${SIM_BENCH_PORT:-18765}
SIM_CORE=0
WRK_CORE=1

if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release -p ibench --quiet
ibench=${CARGO_TARGET_DIR:-target}/release/ibench
rt=()
[[ ${RT:-0} == 1 ]] && rt=(chrt -r 10)

taskset -c "$SIM_CORE" "${rt[@]}" "$ibench" sim --port "$PORT" --threads 1 --seed 1 >/tmp/ibench-sim-bench.log 2>&1 &
SIM_PID=$!
trap 'kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
  sleep 0.1
done

# CPU time (clock ticks) the simulator has used so far.
sim_ticks() { awk '{ print $14 + $15 }' "/proc/$SIM_PID/stat"; }

# Prints "req/s p50_ms p99_ms errors sim_cpu% req/s_per_sim_core" for one wrk run. sim_cpu near
# 100% means the simulator's core was saturated; well below, wrk (or other load on the machine)
# was the bottleneck, and req/s divided by the simulator's CPU share estimates what one whole
# core would serve (a lower bound: a saturated server batches more work per wake-up).
measure() {
  local stream=$1 threads=$2 out before after
  before=$(sim_ticks)
  out=$(STREAM=$stream taskset -c "$WRK_CORE" "${rt[@]}" wrk -t"$threads" -c"$CONNECTIONS" -d"${DURATION}s" \
    -s bench/sim.lua "http://127.0.0.1:$PORT/v1/completions" | grep '^RESULT')
  after=$(sim_ticks)
  awk -v line="$out" -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" 'BEGIN {
    n = split(line, kv, " "); for (i = 2; i <= n; i++) { split(kv[i], p, "="); v[p[1]] = p[2] }
    secs = v["duration_us"] / 1e6
    rate = v["requests"] / secs; cpu = ticks / hz / secs
    printf "%10.0f %8.3f %8.3f %6d %7.0f%% %10.0f\n", rate, v["p50_us"] / 1e3, v["p99_us"] / 1e3,
      v["non200"] + v["connect"] + v["read"] + v["write"] + v["timeout"], 100 * cpu, (cpu > 0 ? rate / cpu : 0) }'
}

# A short warm-up so that the first measurement does not include connection set-up.
STREAM=0 wrk -t1 -c"$CONNECTIONS" -d1s -s bench/sim.lua "http://127.0.0.1:$PORT/v1/completions" >/dev/null

echo "ibench sim on core $SIM_CORE (1 thread), wrk on core $WRK_CORE, $CONNECTIONS keep-alive connections, ${DURATION}s each"
uptime
printf "%-34s %10s %8s %8s %6s %8s %10s\n" "case" "req/s" "p50 ms" "p99 ms" "errors" "sim cpu" "per core"
for threads in 1 2; do
  printf "%-34s %s\n" "non-streaming (wrk -t$threads)" "$(measure 0 "$threads")"
  printf "%-34s %s\n" "streaming, 16 tokens (wrk -t$threads)" "$(measure 1 "$threads")"
done

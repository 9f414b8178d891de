#!/usr/bin/env bash
# Measures `ibench run` at rising constant rates against a fast local target and prints
# requested vs achieved rate, schedule delay p50/p99, CPU per request and peak RSS.
#
#   bench/runner.sh                         # nginx target (static OpenAI response), default rates
#   TARGET=sim bench/runner.sh              # our simulator (zero latency) as the target
#   RATES="5000 20000" DURATION=20 bench/runner.sh
#   MEMORY=1 bench/runner.sh                # peak RSS for 100k vs 1M requests
#   IBENCH=/tmp/ibench-old bench/runner.sh  # measure another build of ibench
#   CONCURRENCY=1000 bench/runner.sh        # load.worker_max_concurrency (default: the runner's, 100)
#   FLOOR=0 bench/runner.sh                 # skip the kernel-floor column (nginx target only)
#   RUNNER_CPUS=1 bench/runner.sh           # the runner and the floor on CPU 1 only
#   TARGET=sim SCRAPE=0.1 bench/runner.sh   # plus metrics.type scrape of the target every 0.1 s
#   BREAKER=1 bench/runner.sh               # plus a circuit breaker fed every request (never trips)
#   HTTP_VERSION=2 bench/runner.sh          # the load over HTTP/2 (h2c, prior knowledge; server.http_version)
#   STREAM=1 bench/runner.sh                # long streams: see below (BPE32K=a built bpe32k binary,
#                                           # else cargo runs it)
#
# Long-stream mode (STREAM=1, nginx target): every answer is a static streamed completion of
# STREAM_TOKENS (256) one-token chunks, the usage chunk and [DONE], in the tokens of the trained
# 32k byte-level BPE tokenizer (ibench_testkit::bpe; the runner counts with it, as a run with a
# real model's tokenizer.json does). Adds tokens/s and CPU per token, and the ratio of ibench's
# tokens/s to what `wrk` (closed loop, no parsing) gets from nginx for the same file.
#
# The floor_us/req column is bench/floor.c at the same rate with as many threads as workers:
# what timer-paced sends and reads over loopback cost on this machine without an HTTP library or
# any accounting (syscalls, wake-ups, the TCP stack). It is a reference, not a bound: one floor
# thread waits on one connection, an ibench worker on many.
#
# The target is pinned to CPU 0; the runner may use every CPU (num_workers = WORKERS, default
# all), unless RUNNER_CPUS names the CPUs it and the floor may use. Where client threads run
# decides much of their cost on a VM: waking a thread on another, idle vCPU (the target for each
# request, the client for each response) costs an interrupt between vCPUs and the vCPU's exit
# from idle; a wake-up on the same CPU costs neither. ibench with one worker at 5,000 req/s:
# 35-37 µs per request on the target's CPU (RUNNER_CPUS=0), 55-62 µs on the other one
# (RUNNER_CPUS=1, the placement of a target on another machine). Unpinned threads land on
# either from run to run, so ibench and the floor are only comparable with RUNNER_CPUS set.
#
# Only loopback is used. RT=1 runs the target and the runner under SCHED_RR (root), so that
# background jobs on a shared machine (compilers, other tests) cannot take their CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${TARGET:-nginx}
rates=${RATES:-"1000 5000 10000 20000 30000 40000"}
duration=${DURATION:-10}
runner_cpus=()
[[ -n ${RUNNER_CPUS:-} ]] && runner_cpus=(taskset -c "$RUNNER_CPUS")
workers=${WORKERS:-$("${runner_cpus[@]}" nproc)}
concurrency=${CONCURRENCY:-100}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"' EXIT

if [[ -n ${IBENCH:-} ]]; then
  ibench=$IBENCH   # a given binary, e.g. an earlier build to compare against in the same run
else
  cargo build --release -q -p ibench
  ibench=${CARGO_TARGET_DIR:-target}/release/ibench
fi
rt=()
[[ ${RT:-0} == 1 ]] && rt=(chrt -r 10)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
http_version=${HTTP_VERSION:-1.1}
[[ $http_version == 1.1 || $http_version == 2 ]] || { echo "HTTP_VERSION must be 1.1 or 2" >&2; exit 2; }
# The port the load goes to. nginx serves HTTP/2 over cleartext on a port of its own (`listen
# … http2`, accepted by nginx 1.22 and, deprecated, by later ones: such a port speaks nothing
# else); the simulator serves both versions on one port. The floor and the readiness check
# speak HTTP/1.1 to $port.
load_port=$port
[[ $http_version == 2 && $target == nginx ]] && load_port=$(free_port)
# The key only when asked for: builds older than it (IBENCH=...) refuse unknown keys.
server_extra=""
[[ $http_version == 2 ]] && server_extra=', http_version: "2"'
stream=${STREAM:-0}
stream_tokens=${STREAM_TOKENS:-256}
api='{type: completion, streaming: false}'
tokenizer_yaml=""
completions_location='location / {
      default_type application/json;
      return 200 '"'"'{"id":"cmpl-1","object":"text_completion","created":0,"model":"static","choices":[{"index":0,"text":"one two three","finish_reason":"length"}],"usage":{"prompt_tokens":4,"completion_tokens":3,"total_tokens":7}}'"'"';
    }'
if [[ $stream == 1 ]]; then
  [[ $target == nginx ]] || { echo "STREAM=1 needs the nginx target" >&2; exit 2; }
  if [[ -n ${BPE32K:-} ]]; then
    tokenizer=$("$BPE32K" --stream "$work/stream.sse" "$stream_tokens" | tail -n 1)
  else
    tokenizer=$(cargo run --release -q -p ibench-testkit --bin bpe32k -- --stream "$work/stream.sse" "$stream_tokens" | tail -n 1)
  fi
  # nginx's workers run as nobody: the file and its directory must be theirs to read.
  chmod a+rx "$work"
  chmod a+r "$work/stream.sse"
  api='{type: completion, streaming: true}'
  tokenizer_yaml="tokenizer: {pretrained_model_name_or_path: \"$tokenizer\"}"
  # nginx answers a POST to a static file with 405; error_page turns that into the file.
  completions_location="location = /v1/completions {
      default_type text/event-stream;
      alias $work/stream.sse;
      error_page 405 =200 \$uri;
    }"
fi

case $target in
  nginx)
    command -v nginx >/dev/null || { echo "installing nginx-light"; apt-get install -y -qq nginx-light >/dev/null; }
    mkdir -p "$work/logs"
    cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$port;
    $([[ $load_port != "$port" ]] && echo "listen 127.0.0.1:$load_port http2;")
    location /v1/models { default_type application/json; return 200 '{"object":"list","data":[{"id":"static","object":"model"}]}'; }
    $completions_location
  }
}
CONF
    taskset -c 0 "${rt[@]}" nginx -p "$work" -c "$work/nginx.conf"
    ;;
  sim)
    taskset -c 0 "${rt[@]}" "$ibench" sim --port "$port" --threads 1 --model static >"$work/sim.log" 2>&1 &
    ;;
  *) echo "TARGET must be nginx or sim" >&2; exit 2 ;;
esac
floor=""
if [[ ${FLOOR:-1} == 1 && $target == nginx ]]; then
  command -v cc >/dev/null || { echo "installing gcc"; apt-get install -y -qq gcc libc6-dev >/dev/null; }
  floor=$work/floor
  cc -O2 -pthread -o "$floor" bench/floor.c
fi
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v1/models" >/dev/null && break; sleep 0.1; done

# One run: prints "achieved p50_ms p99_ms ok failed cancelled cpu_us_per_request peak_rss_mb
# peak_anon_mb output_tokens_per_s".
run() {
  local rate=$1 seconds=$2 dir=$work/report-$1-$2
  cat > "$work/config.yaml" <<CONF
api: $api
data: {type: mock}
$tokenizer_yaml
load:
  type: constant
  stages: [{rate: $rate, duration: $seconds}]
  num_workers: $workers
  worker_max_concurrency: $concurrency
  base_seed: 1
  circuit_breakers: [${BREAKER:+errors}]
server: {type: vllm, base_url: "http://127.0.0.1:$load_port", model_name: static$server_extra}
report: {request_lifecycle: {per_adapter: false}}
storage: {local_storage: {path: "$dir"}}
CONF
  [[ -n ${SCRAPE:-} ]] && echo "metrics: {type: scrape, scrape: {interval: $SCRAPE}}" >>"$work/config.yaml"
  # Every record watched, hits counted over 5 s windows: the JMESPath work of a real breaker.
  [[ -n ${BREAKER:-} ]] && echo "circuit_breakers: [{name: errors, metrics: {matches: ['\`true\`'], rules: [error]}, triggers: [{type: rate_over_window, window_sec: 5, threshold: 0.5, min_samples: 100}]}]" >>"$work/config.yaml"
  /usr/bin/time -f "%U %S %M" -o "$work/time" "${runner_cpus[@]}" "${rt[@]}" "$ibench" run -c "$work/config.yaml" >"$work/run.log" 2>&1 &
  # Peak anonymous memory (heap, stacks), sampled every 50 ms: what the run allocates, without
  # the binary's code pages, which max RSS also counts and which differ with the paths a run takes.
  local timed=$! pid="" anon_kb=0 kb
  while kill -0 "$timed" 2>/dev/null; do
    [[ -n $pid ]] || pid=$(pgrep -P "$timed" | head -n 1 || true)
    kb=$([[ -n $pid ]] && awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    (( ${kb:-0} > anon_kb )) && anon_kb=$kb
    sleep 0.05
  done
  wait "$timed" || true
  python3 - "$dir/stage_0_lifecycle_metrics.json" "$work/time" "$anon_kb" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
user, system, rss_kb = open(sys.argv[2]).read().split()[-3:]
anon_mb = int(sys.argv[3]) / 1024
load = r["load_summary"]; d = load["schedule_delay"] or {}
sent = load["count"]
cpu_us = (float(user) + float(system)) * 1e6 / max(sent, 1)
print(f'{load["achieved_rate"]:.1f} {d.get("median", 0)*1e3:.3f} {d.get("p99", 0)*1e3:.3f} '
      f'{r["successes"]["count"]} {r["failures"]["count"]} {r["cancelled"]["count"]} {cpu_us:.1f} {int(rss_kb)/1024:.1f} {anon_mb:.1f} '
      f'{r["successes"]["throughput"]["output_tokens_per_sec"]:.0f}')
PY
}

if [[ ${MEMORY:-0} == 1 ]]; then
  rate=${MEMORY_RATE:-20000}
  echo "workers=$workers worker_max_concurrency=$concurrency"
  printf "%-10s %-8s %-10s %-12s %-12s\n" requests rate achieved peak_rss_mb peak_anon_mb
  for seconds in 5 50; do
    read -r achieved _ _ _ _ _ _ rss anon _ < <(run "$rate" "$seconds")
    printf "%-10s %-8s %-10s %-12s %-12s\n" $((rate * seconds)) "$rate" "$achieved" "$rss" "$anon"
  done
  exit 0
fi

echo "target=$target http_version=$http_version workers=$workers worker_max_concurrency=$concurrency duration=${duration}s cpus=$(nproc) runner_cpus=${RUNNER_CPUS:-all} scrape=${SCRAPE:-off} breaker=${BREAKER:-off} stream=$([[ $stream == 1 ]] && echo "$stream_tokens tokens" || echo off) ($(uname -m))"
wrk_tokens=""
if [[ $stream == 1 ]]; then
  # nginx's own ceiling for this file: wrk on the other CPU, closed loop, as many requests as
  # nginx answers; counted in tokens like ibench.
  command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
  printf 'wrk.method = "POST"\nwrk.body = "{}"\nwrk.headers["Content-Type"] = "application/json"\n' >"$work/post.lua"
  wrk_rps=$(taskset -c 1 "${rt[@]}" wrk -t1 -c64 -d"${duration}s" -s "$work/post.lua" "http://127.0.0.1:$port/v1/completions" |
    awk '/^Requests\/sec/ {print $2}')
  wrk_tokens=$(python3 -c "print(round($wrk_rps * $stream_tokens))")
  echo "wrk against the same file: $wrk_rps responses/s = $wrk_tokens tokens/s"
  printf "%-9s %-10s %-7s %-9s %-9s %-9s %-7s %-9s %-11s %-13s %-10s %-12s %-13s %-8s %-8s\n" requested achieved ratio p50_ms p99_ms ok failed cancelled cpu_us/req floor_us/req tokens/s cpu_us/token of_wrk rss_mb anon_mb
else
  printf "%-9s %-10s %-7s %-9s %-9s %-9s %-7s %-9s %-11s %-13s %-8s %-8s\n" requested achieved ratio p50_ms p99_ms ok failed cancelled cpu_us/req floor_us/req rss_mb anon_mb
fi
for rate in $rates; do
  read -r achieved p50 p99 ok failed cancelled cpu rss anon tokens < <(run "$rate" "$duration")
  ratio=$(python3 -c "print(f'{$achieved/$rate*100:.1f}%')")
  floor_cpu=-
  [[ -n $floor ]] && read -r _ floor_cpu < <("${runner_cpus[@]}" "${rt[@]}" "$floor" "$port" "$rate" "$duration" "$workers")
  if [[ $stream == 1 ]]; then
    read -r per_token of_wrk < <(python3 -c "print(f'{$cpu/$stream_tokens:.3f} {$tokens/$wrk_tokens*100:.1f}%')")
    printf "%-9s %-10s %-7s %-9s %-9s %-9s %-7s %-9s %-11s %-13s %-10s %-12s %-13s %-8s %-8s\n" "$rate" "$achieved" "$ratio" "$p50" "$p99" "$ok" "$failed" "$cancelled" "$cpu" "$floor_cpu" "$tokens" "$per_token" "$of_wrk" "$rss" "$anon"
  else
    printf "%-9s %-10s %-7s %-9s %-9s %-9s %-7s %-9s %-11s %-13s %-8s %-8s\n" "$rate" "$achieved" "$ratio" "$p50" "$p99" "$ok" "$failed" "$cancelled" "$cpu" "$floor_cpu" "$rss" "$anon"
  fi
done

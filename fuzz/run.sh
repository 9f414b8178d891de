#!/usr/bin/env bash
# Coverage-guided fuzzing of the runner's HTTP/1.1 response decoder and SSE decoder with
# cargo fuzz (libFuzzer), each target for MINUTES minutes (default 15):
#   fuzz/run.sh [MINUTES] [TARGET...]
# cargo-fuzz and the nightly toolchain it needs are installed on first use; the corpora are
# kept in the cache so each run starts where the last one ended. A crash leaves its input in
# fuzz/artifacts/TARGET/ and fails the script: turn it into a regression test.
set -euo pipefail
fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
minutes=${1:-15}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(http_response sse_events)
cache="${INFERENCE_BENCH_CACHE:-$HOME/.cache/inference-bench}"
cargo_fuzz_version=0.13.1

export PATH="$HOME/.cargo/bin:$cache/tools/bin:$PATH"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
if [[ "$(cargo-fuzz --version 2>/dev/null)" != "cargo-fuzz $cargo_fuzz_version" ]]; then
  cargo install --quiet --locked "cargo-fuzz@$cargo_fuzz_version" --root "$cache/tools"
fi

export CARGO_TARGET_DIR="$cache/target-fuzz"
cd "$fuzz_dir/.."
status=0
for target in "${targets[@]}"; do
  corpus="$cache/fuzz-corpus/$target"
  mkdir -p "$corpus"
  log="$CARGO_TARGET_DIR/$target.log"
  mkdir -p "$CARGO_TARGET_DIR"
  echo "fuzz/run.sh: $target for $minutes min (corpus $corpus, log $log)" >&2
  # The targets themselves assert the read buffer's bound; -rss_limit_mb is libFuzzer's default.
  if ! cargo +nightly fuzz run --release "$target" "$corpus" -- \
      -max_total_time=$((minutes * 60)) -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    status=1
    tail -n 40 "$log" >&2
  fi
  # libFuzzer's own counts: executions, speed, coverage, corpus.
  { grep -E '^#[0-9]+' "$log" | tail -n 1; grep -E '^stat::' "$log"; } | sed "s/^/$target: /"
done
exit $status

#!/usr/bin/env bash
# Quick start: builds ibench, starts the simulated model server (`ibench sim`) on a free
# loopback port, runs configs/quickstart.yaml against it and leaves the reports in ./reports-*.
# Extra arguments go to `ibench run` (e.g. --set load.stages[0].rate=100).
set -euo pipefail
cd "$(dirname "$0")"
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
cargo build --release -q -p ibench
ibench=${CARGO_TARGET_DIR:-target}/release/ibench
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$ibench" sim --port "$port" --ttft-ms 50 --ttft-std-ms 10 --itl-ms 10 --itl-std-ms 2 \
  --lora support --lora summarize:20 --max-num-seqs 256 --seed 1 &
sim=$!
trap 'kill $sim 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
"$ibench" run --config configs/quickstart.yaml --set "server.base_url=http://127.0.0.1:$port" "$@"

#!/usr/bin/env bash
# The project's test command: builds (or reuses) the Kubernetes control plane, the S3, GCS and
# Prometheus servers, inference-perf's virtualenv and the real-server matrix's servers used by
# the integration tests, then runs every test of the workspace. Extra arguments go to `cargo test`
# (e.g. `tests/run.sh -p ibench-testcluster -- --nocapture`).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

# Toolchains live where rustup and the Go tarball put them; a non-login shell may lack them.
for dir in "$HOME/.cargo/bin" /usr/local/go/bin; do
  [[ -d "$dir" && ":$PATH:" != *":$dir:"* ]] && PATH="$dir:$PATH"
done
export PATH
for tool in cargo rustc go bash flock python3; do
  command -v "$tool" >/dev/null || { echo "tests/run.sh: $tool not found (need Rust via rustup, Go >= 1.26, util-linux, Python 3)" >&2; exit 1; }
done

cache="${INFERENCE_BENCH_CACHE:-$HOME/.cache/inference-bench}"

# Everything is built and tested from one fixed copy of this checkout, so that a fresh clone
# reuses the compiled workspace crates (tests/stable_copy.py says why). One run at a time uses it.
if [[ -z "${IBENCH_STABLE_COPY_OF:-}" ]] && git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
  copy="$cache/workspace"
  mkdir -p "$cache"
  exec 9>"$cache/workspace.lock"
  if ! flock -n 9; then
    echo "tests/run.sh: waiting for another run using $copy" >&2
    flock 9
  fi
  python3 "$repo/tests/stable_copy.py" "$repo" "$copy"
  echo "tests/run.sh: testing $repo as $copy" >&2
  IBENCH_STABLE_COPY_OF="$repo" exec "$copy/tests/run.sh" "$@"
fi

start=$(date +%s)
bin_dir=$(tests/cluster/build.sh | tail -n 1)
export IBENCH_CONTROL_PLANE_BIN="$bin_dir"
echo "tests/run.sh: control plane binaries in $bin_dir (build.sh took $(( $(date +%s) - start )) s)" >&2
object_stores_start=$(date +%s)
object_store_dir=$(tests/cluster/build-object-stores.sh | tail -n 1)
export IBENCH_OBJECT_STORE_BIN="$object_store_dir"
echo "tests/run.sh: object-storage servers in $object_store_dir (build-object-stores.sh took $(( $(date +%s) - object_stores_start )) s)" >&2
peer_start=$(date +%s)
export IBENCH_INFERENCE_PERF_VENV
IBENCH_INFERENCE_PERF_VENV=$(tests/cluster/build-inference-perf.sh | tail -n 1)
echo "tests/run.sh: inference-perf in $IBENCH_INFERENCE_PERF_VENV (build-inference-perf.sh took $(( $(date +%s) - peer_start )) s)" >&2
# The real-server matrix (runner/cli/tests/real_servers.rs): uvicorn + FastAPI and httpx from
# PyPI, and nginx (installed with apt-get when missing).
matrix_start=$(date +%s)
export IBENCH_PYTHON_SERVERS_VENV IBENCH_NGINX
IBENCH_PYTHON_SERVERS_VENV=$(tests/cluster/build-python-servers.sh | tail -n 1)
IBENCH_NGINX=$(tests/cluster/install-nginx.sh | tail -n 1)
echo "tests/run.sh: matrix servers in $IBENCH_PYTHON_SERVERS_VENV, nginx $IBENCH_NGINX ($(( $(date +%s) - matrix_start )) s)" >&2

# Compiled dependencies are kept outside the clone, per compiler version, so a fresh clone (CI)
# reuses them; cargo's fingerprints still rebuild whatever changed.
if [[ -z "${CARGO_TARGET_DIR:-}" ]]; then
  rustc_key=$(rustc -vV | sha256sum | cut -c1-12)
  export CARGO_TARGET_DIR="$cache/target-$rustc_key"
fi
# Each change is built once here: incremental caches only grew that shared directory (by 31 GB
# over a few days of changes) until the disk was full.
export CARGO_INCREMENTAL=0

# No crate's modules may use each other in a cycle (tests/module_cycles.py). cargo-modules reads
# the module graph with rust-analyzer; it is built once per version into the cache.
cargo_modules_version=0.27.0
if [[ "$("$cache/tools/bin/cargo-modules" --version 2>/dev/null)" != "cargo-modules $cargo_modules_version" ]]; then
  cargo install --quiet --locked "cargo-modules@$cargo_modules_version" --root "$cache/tools" \
    --target-dir "$cache/tools/target"
fi
PATH="$cache/tools/bin:$PATH" python3 tests/module_cycles.py

locked=()
[[ -f Cargo.lock ]] && locked=(--locked)
if (( $# == 0 )); then
  # The image tests need a release build of both binaries (images/build.sh: minutes after a
  # change). It runs at the lowest priority beside the tests' build, on the cores that build
  # leaves idle (links, the last crates), and ends before any test runs, so no timed test
  # shares a CPU with it. Its outcome is not judged here: the image tests run images/build.sh
  # again (a no-op after this one) and report any failure themselves.
  images_log="$cache/images-prebuild.log"
  mkdir -p "$cache"
  nice -n 19 images/build.sh >"$images_log" 2>&1 &
  images_pid=$!
  cargo test --workspace "${locked[@]}" --no-run
  wait "$images_pid" ||
    echo "tests/run.sh: images/build.sh failed ($images_log); the image tests will say why" >&2
  echo "tests/run.sh: tests and release binaries built in $(( $(date +%s) - start )) s" >&2
fi
cargo test --workspace "${locked[@]}" "$@"
echo "tests/run.sh: done in $(( $(date +%s) - start )) s" >&2

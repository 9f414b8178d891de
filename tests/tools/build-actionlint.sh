#!/usr/bin/env bash
# Builds actionlint (the linter of GitHub Actions workflows) from the Go module pinned in
# actionlint/go.mod into a cache outside the clone, like tests/cluster/build-object-stores.sh:
# the key covers go.mod/go.sum, the Go version and this script's `recipe`, so a warm cache
# skips the Go build entirely. actionlint checks the shell of `run:` steps with shellcheck when
# it is on PATH: shellcheck (a Debian package) is installed with apt-get if missing.
# Prints, on its last line, the path of the actionlint binary.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for dir in /usr/local/go/bin; do
  [[ -d "$dir" && ":$PATH:" != *":$dir:"* ]] && PATH="$dir:$PATH"
done
export PATH GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
cache="${INFERENCE_BENCH_CACHE:-$HOME/.cache/inference-bench}"
root="$cache/tools/actionlint"
mkdir -p "$root"
# Bump when the build command or flags below change.
recipe=1
dir="$here/actionlint"
version=$(awk '$1 == "github.com/rhysd/actionlint" {print $2}' "$dir/go.mod")
key=$( (cat "$dir/go.mod" "$dir/go.sum"; go env GOVERSION; echo "recipe=$recipe") | sha256sum | cut -c1-12)
out="$root/actionlint-$version-$key"
built="$out/actionlint"

if ! command -v shellcheck >/dev/null; then
  echo "installing shellcheck (actionlint checks run: scripts with it)" >&2
  flock "$cache/.apt.lock" bash -c 'apt-get install -y --no-install-recommends shellcheck >&2 ||
    { apt-get update >&2 && apt-get install -y --no-install-recommends shellcheck >&2; }'
fi

if [[ -x "$built" ]]; then
  echo "actionlint: cache hit ($version)" >&2
  echo "$built"
  exit 0
fi
# Several test binaries or clones may ask at once: one builds, the others wait and reuse it.
exec 9>"$root/.lock"
flock 9
if [[ ! -x "$built" ]]; then
  start=$(date +%s)
  echo "building actionlint $version" >&2
  rm -rf "$out.partial" && mkdir -p "$out.partial"
  (cd "$dir" && go build -trimpath \
    -ldflags "-s -w -X github.com/rhysd/actionlint.version=$version" \
    -o "$out.partial/actionlint" github.com/rhysd/actionlint/cmd/actionlint)
  rm -rf "$out" && mv "$out.partial" "$out"
  echo "actionlint built in $(( $(date +%s) - start )) s" >&2
fi
echo "$built"

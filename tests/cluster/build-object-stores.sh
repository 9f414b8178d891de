#!/usr/bin/env bash
# Builds the servers of the tests other than the control plane from published Go modules into a
# cache outside the clone: SeaweedFS's `weed` (S3 gateway), fake-gcs-server (Google Cloud Storage)
# and Prometheus (server-side metrics; its service discovery left out, `remove_all_sd`). Each has
# its own cache key and directory, so a change to one rebuilds only that one, and none of them
# touches the control plane's (build.sh). A warm cache skips the Go build entirely.
# Prints, on its last line, a directory holding `weed`, `fake-gcs-server` and `prometheus`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
cache="${INFERENCE_BENCH_CACHE:-$HOME/.cache/inference-bench}"
root="$cache/object-stores"
mkdir -p "$root"
# Bump when the build commands or flags below change; comments and other edits of this script
# then keep the cache.
recipe=1
go_version=$(go env GOVERSION)

# build_tool NAME MODULE BINARY PACKAGE LDFLAGS [TAGS]: builds PACKAGE (required by
# go/NAME/go.mod) into "$root/NAME-VERSION-KEY/BINARY" unless cached; sets $built to that path.
build_tool() {
  local name=$1 module=$2 binary=$3 package=$4 ldflags=$5 tags=${6:-}
  local dir="$here/go/$name"
  local version key out
  version=$(awk -v m="$module" '$1 == m {print $2}' "$dir/go.mod")
  # The key covers every input of this tool's build: its module files, Go version and recipe.
  key=$( (cat "$dir/go.mod" "$dir/go.sum"; echo "$go_version"; echo "recipe=$recipe"; echo "tags=$tags") | sha256sum | cut -c1-12)
  out="$root/$name-$version-$key"
  built="$out/$binary"
  if [[ -x "$built" ]]; then
    echo "$name: cache hit ($version)" >&2
    return
  fi
  # Several test binaries or clones may ask at once: one builds, the others wait and reuse it.
  exec 9>"$root/.$name.lock"
  flock 9
  if [[ -x "$built" ]]; then
    echo "$name: built by a concurrent run ($version)" >&2
    exec 9>&-
    return
  fi
  local start
  start=$(date +%s)
  echo "building $name $version" >&2
  rm -rf "$out.partial" && mkdir -p "$out.partial"
  (cd "$dir" && go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$out.partial/$binary" "$package")
  rm -rf "$out" && mv "$out.partial" "$out"
  echo "$name built in $(( $(date +%s) - start )) s" >&2
  exec 9>&-
}

build_tool seaweedfs github.com/seaweedfs/seaweedfs weed \
  github.com/seaweedfs/seaweedfs/weed "-s -w"
weed=$built
build_tool fake-gcs-server github.com/fsouza/fake-gcs-server fake-gcs-server \
  github.com/fsouza/fake-gcs-server "-s -w"
fake_gcs=$built
build_tool prometheus github.com/prometheus/prometheus prometheus \
  github.com/prometheus/prometheus/cmd/prometheus "-s -w" remove_all_sd
prometheus=$built

# One directory naming them all, so a single variable (IBENCH_OBJECT_STORE_BIN) reaches the
# harness; its name follows the builds, and it is made under a temporary name and renamed whole
# so a concurrent reader never sees it half made.
combined="$root/bin-$(printf '%s\n' "$weed" "$fake_gcs" "$prometheus" | sha256sum | cut -c1-12)"
if [[ ! -x "$combined/weed" || ! -x "$combined/fake-gcs-server" || ! -x "$combined/prometheus" ]]; then
  tmp=$(mktemp -d "$combined.XXXXXX")
  chmod 755 "$tmp"
  ln -s "$weed" "$tmp/weed"
  ln -s "$fake_gcs" "$tmp/fake-gcs-server"
  ln -s "$prometheus" "$tmp/prometheus"
  mv -T "$tmp" "$combined" 2>/dev/null || rm -rf "$tmp"
fi
echo "$combined"

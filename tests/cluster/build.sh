#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver, kube-controller-manager, etcd) and helm from
# published Go modules into a cache outside the clone. A warm cache skips the Go build entirely.
# Prints the directory holding the binaries on its last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

k8s_version=$(awk '$1 == "k8s.io/kubernetes" {print $2}' "$here/go/k8s/go.mod")
etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2}' "$here/go/etcd/go.mod")
helm_version=$(awk '$1 == "helm.sh/helm/v4" {print $2}' "$here/go/helm/go.mod")
# Bump when the build commands or flags below change; comments and other edits of this script
# then keep the cache.
recipe=1
# The key covers every input of the build: module files, Go version and recipe. The modules are
# named one by one (in the order a glob gave before other tools joined go/), so the object-storage
# servers of build-object-stores.sh never rebuild the control plane.
modules=(etcd helm k8s)
key=$( (for m in "${modules[@]}"; do cat "$here/go/$m/go.mod"; done
        for m in "${modules[@]}"; do cat "$here/go/$m/go.sum"; done
        go env GOVERSION; echo "recipe=$recipe") | sha256sum | cut -c1-12)
cache="${INFERENCE_BENCH_CACHE:-$HOME/.cache/inference-bench}"
bin="$cache/control-plane/$k8s_version-$key"

cached() { [[ -x "$bin/kube-apiserver" && -x "$bin/kube-controller-manager" && -x "$bin/etcd" && -x "$bin/helm" ]]; }
if cached; then
  echo "control plane binaries: cache hit ($k8s_version, etcd $etcd_version, helm $helm_version)" >&2
  echo "$bin"
  exit 0
fi

# Several test binaries or clones may ask at once: one builds, the others wait and reuse it.
mkdir -p "$cache/control-plane"
exec 9>"$cache/control-plane/.build.lock"
flock 9
if cached; then
  echo "control plane binaries: built by a concurrent run ($k8s_version)" >&2
  echo "$bin"
  exit 0
fi

mkdir -p "$bin.partial"
minor=${k8s_version#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
start=$(date +%s)
echo "building kube-apiserver + kube-controller-manager $k8s_version (cold: ~15-30 min on 2 cores)" >&2
(cd "$here/go/k8s" && go build -trimpath -ldflags "$ldflags" -o "$bin.partial/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager)
echo "building etcd $etcd_version" >&2
(cd "$here/go/etcd" && go build -trimpath -ldflags "-s -w" -o "$bin.partial/etcd" go.etcd.io/etcd/server/v3)
echo "building helm $helm_version" >&2
(cd "$here/go/helm" && go build -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version" \
  -o "$bin.partial/helm" helm.sh/helm/v4/cmd/helm)
rm -rf "$bin" && mv "$bin.partial" "$bin"
echo "control plane binaries built in $(( $(date +%s) - start )) s" >&2
echo "$bin"

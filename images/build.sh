#!/usr/bin/env bash
# Builds the `ibench` (runner) and `ibench-operator` images without a container engine or a
# registry: OCI images assembled from scratch with umoci (a Debian package), holding the
# release binary, exactly the shared libraries it links (copied from this Debian 12 machine,
# as gcr.io/distroless/cc-debian12 holds glibc and libgcc), CA certificates, /etc/passwd and
# /etc/group with the numeric non-root user 65532 (nonroot), and the Dockerfile's entrypoint,
# command, user, environment and working directory. No shell, no package manager.
#
#   images/build.sh [OUT]        # default OUT: ~/.cache/inference-bench/images
#
# Writes OUT/ibench and OUT/ibench-operator (OCI image layouts, tag = workspace version) and
# OUT/ibench-<version>.oci.tar and OUT/ibench-operator-<version>.oci.tar (oci-archive, named
# ghcr.io/inference-bench/<image>:<version>, for `kind load image-archive`, `k3d image import`,
# `skopeo copy oci-archive:...`, `podman load`). Each image is rebuilt only when its inputs
# (binary, libraries, certificates, this script) change; cargo's fingerprints decide whether
# the binaries are rebuilt. Prints, on its last line, OUT.
#
# The release build uses its own target directory, per compiler version, outside the clone
# ($IBENCH_IMAGES_TARGET_DIR, default ~/.cache/inference-bench/target-release-<rustc key>):
# it never waits for the lock of a `cargo test` running in the tests' target directory.
# Needs root (the files in the image are owned by root and 65532); installs umoci and skopeo
# with apt-get when they are missing.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
for dir in "$HOME/.cargo/bin" /usr/local/go/bin; do
  [[ -d "$dir" && ":$PATH:" != *":$dir:"* ]] && PATH="$dir:$PATH"
done
export PATH
cache="${INFERENCE_BENCH_CACHE:-$HOME/.cache/inference-bench}"
out="${1:-$cache/images}"
# Bump when the image layout below changes in a way the input hash does not see.
recipe=1
registry=ghcr.io/inference-bench
uid=65532

if [[ $(id -u) != 0 ]]; then
  echo "images/build.sh: needs root (the image's files are owned by root and $uid)" >&2
  exit 1
fi
missing=()
for tool in umoci skopeo python3 strip; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
missing=("${missing[@]/strip/binutils}")
if (( ${#missing[@]} )); then
  echo "images/build.sh: installing ${missing[*]}" >&2
  # Serialised: apt-get takes its own lock and fails at once if another run holds it.
  mkdir -p "$cache"
  flock "$cache/.apt.lock" bash -c 'apt-get install -y --no-install-recommends "$@" >&2 ||
    { apt-get update >&2 && apt-get install -y --no-install-recommends "$@" >&2; }' _ "${missing[@]}"
fi

version=$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "ibench"))')
arch=$(dpkg --print-architecture)
rustc_key=$(rustc -vV | sha256sum | cut -c1-12)
target_dir="${IBENCH_IMAGES_TARGET_DIR:-$cache/target-release-$rustc_key}"

start=$(date +%s)
CARGO_TARGET_DIR="$target_dir" cargo build --release --locked -p ibench -p ibench-operator --bins >&2
echo "images/build.sh: release binaries ready in $(( $(date +%s) - start )) s" >&2

mkdir -p "$out"
exec 9>"$out/.lock"
flock 9

# The shared libraries a binary loads, as paths on this machine (the dynamic loader included).
libraries() {
  env -u LD_LIBRARY_PATH ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u
}

# build_image NAME BINARY: the image NAME with BINARY as /usr/local/bin/NAME, and the rest of
# the image's configuration in the remaining arguments (umoci config flags).
build_image() {
  local name=$1 binary=$2
  shift 2
  local libs key layout archive
  mapfile -t libs < <(libraries "$binary")
  if (( ${#libs[@]} == 0 )); then
    echo "images/build.sh: ldd found no libraries in $binary (a static binary needs no loader, but this one is expected to be dynamic)" >&2
    exit 1
  fi
  # Everything that goes into the image, and how it is put together.
  key=$( (sha256sum "$binary" /etc/ssl/certs/ca-certificates.crt "${libs[@]}" "${BASH_SOURCE[0]}" | cut -c1-64
    echo "recipe=$recipe version=$version arch=$arch $*") | sha256sum | cut -c1-16)
  layout="$out/$name"
  archive="$out/$name-$version.oci.tar"
  if [[ -f "$out/.$name.key" && "$(cat "$out/.$name.key")" == "$key" && -f "$archive" && -d "$layout" ]]; then
    echo "images/build.sh: $name:$version up to date ($key)" >&2
    return
  fi
  local t0 work rootfs
  t0=$(date +%s)
  work=$(mktemp -d "$out/.$name.XXXXXX")
  rootfs="$work/rootfs"

  # Merged /usr, as on Debian 12: /lib and /lib64 are links into /usr, where the loader is.
  mkdir -p "$rootfs"/{etc/ssl/certs,usr/local/bin,usr/lib,usr/lib64,tmp,home/nonroot,root}
  ln -s usr/lib "$rootfs/lib"
  ln -s usr/lib64 "$rootfs/lib64"
  chmod 1777 "$rootfs/tmp"
  chmod 700 "$rootfs/root" "$rootfs/home/nonroot"
  chown "$uid:$uid" "$rootfs/home/nonroot"
  # The release profile keeps line tables (backtraces with file:line, ~100 MB); the image keeps
  # the symbols (function names in backtraces) and drops the debug info, as the Dockerfile does.
  strip --strip-debug -o "$rootfs/usr/local/bin/$name" "$binary"
  chmod 755 "$rootfs/usr/local/bin/$name"
  local lib real dir pkgs=()
  for lib in "${libs[@]}"; do
    # The file the binary's path leads to, at its own path, and the path the binary names as
    # a link to it where the two differ (the loader: /lib64 -> /usr/lib64 -> /usr/lib/<arch>).
    real=$(readlink -f "$lib")
    mkdir -p "$rootfs$(dirname "$real")"
    cp -p "$real" "$rootfs$real"
    dir=$(readlink -f "$(dirname "$lib")")
    if [[ "$dir/$(basename "$lib")" != "$real" ]]; then
      mkdir -p "$rootfs$dir"
      ln -sfn "$real" "$rootfs$dir/$(basename "$lib")"
    fi
    # dpkg knows a library by the path its package ships (/lib/... on merged /usr).
    pkgs+=("$( { dpkg -S "$lib" || dpkg -S "$real"; } 2>/dev/null | head -n1 | cut -d: -f1 || true)")
  done
  # Each library's package licence, as distroless carries them.
  local pkg
  for pkg in $(printf '%s\n' "${pkgs[@]}" | sort -u); do
    [[ -f "/usr/share/doc/$pkg/copyright" ]] && cp --parents "/usr/share/doc/$pkg/copyright" "$rootfs/"
  done
  cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  cat >"$rootfs/etc/passwd" <<EOF
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:$uid:$uid:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat >"$rootfs/etc/group" <<EOF
root:x:0:
nogroup:x:65534:
nonroot:x:$uid:
EOF
  printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
  cp /etc/os-release "$rootfs/etc/os-release" 2>/dev/null || true
  chmod 644 "$rootfs"/etc/{passwd,group,nsswitch.conf}

  # The program is its own check: a missing library fails here, not in a cluster.
  if ! chroot --userspec="$uid:$uid" "$rootfs" "/usr/local/bin/$name" --version >"$work/version" 2>&1; then
    echo "images/build.sh: $name does not start in its image's root file system:" >&2
    cat "$work/version" >&2
    exit 1
  fi

  umoci init --layout "$work/layout" >&2
  umoci new --image "$work/layout:$version" >&2
  umoci insert --image "$work/layout:$version" --history.created_by "images/build.sh: $name $version" \
    "$rootfs" / >&2
  umoci config --image "$work/layout:$version" --os linux --architecture "$arch" \
    --config.user "$uid:$uid" --config.workingdir /home/nonroot \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --config.label "org.opencontainers.image.source=https://github.com/inference-bench/inference-bench" \
    --config.label "org.opencontainers.image.version=$version" \
    --config.label "org.opencontainers.image.licenses=Apache-2.0" \
    --history.created_by "images/build.sh: config" "$@" >&2
  umoci gc --layout "$work/layout" >&2
  # The archive: the layout with the image named in full, as containerd (kind, k3d: `ctr images
  # import`) and podman read it (io.containerd.image.name, and a full ref.name).
  cp -a "$work/layout" "$work/archive"
  python3 - "$work/archive/index.json" "$registry/$name:$version" <<'PY'
import json, sys
path, name = sys.argv[1], sys.argv[2]
index = json.load(open(path))
for m in index["manifests"]:
    m.setdefault("annotations", {}).update({
        "org.opencontainers.image.ref.name": name,
        "io.containerd.image.name": name,
    })
json.dump(index, open(path, "w"), separators=(",", ":"))
PY
  # Entries named as an OCI archive's are (index.json, not ./index.json).
  tar --sort=name --owner=0 --group=0 --numeric-owner -C "$work/archive" -cf "$work/archive.tar" \
    oci-layout index.json blobs
  skopeo inspect --raw "oci-archive:$work/archive.tar" >/dev/null

  rm -rf "$layout" "$archive"
  mv "$work/layout" "$layout"
  mv "$work/archive.tar" "$archive"
  echo "$key" >"$out/.$name.key"
  echo "images/build.sh: $name:$version built in $(( $(date +%s) - t0 )) s ($(du -sk "$layout" | cut -f1) KiB; $(cat "$work/version"))" >&2
  rm -rf "$work"
}

bin="$target_dir/release"
build_image ibench "$bin/ibench" --config.entrypoint ibench
build_image ibench-operator "$bin/ibench-operator" --config.entrypoint ibench-operator \
  --config.cmd run --config.cmd --log-format --config.cmd json --config.exposedports 8080/tcp
echo "images/build.sh: done in $(( $(date +%s) - start )) s" >&2
echo "$out"

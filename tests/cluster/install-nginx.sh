#!/usr/bin/env bash
# Finds nginx (the matrix's reverse proxy, tests/cluster/src/nginx.rs), installing Debian's
# nginx-light with apt-get when it is missing. Prints, on its last line, the nginx binary.
set -euo pipefail
cache="${INFERENCE_BENCH_CACHE:-$HOME/.cache/inference-bench}"
find_nginx() { command -v nginx 2>/dev/null || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; }; }
if ! nginx=$(find_nginx); then
  echo "install-nginx.sh: installing nginx-light" >&2
  # Serialised: apt-get takes its own lock and fails at once if another run holds it.
  mkdir -p "$cache"
  flock "$cache/.apt.lock" bash -c 'apt-get install -y --no-install-recommends nginx-light >&2 ||
    { apt-get update >&2 && apt-get install -y --no-install-recommends nginx-light >&2; }'
  nginx=$(find_nginx) || { echo "install-nginx.sh: nginx-light installed but no nginx found" >&2; exit 1; }
fi
echo "$nginx"

#!/usr/bin/env bash
# Installs inference-perf 0.7.0 (the peer this project is compared with) from PyPI into a
# virtualenv cached outside the clone, with a Python >= 3.12 found on this machine (pyenv's
# versions or python3.12/3.13 on PATH). Prints, on its last line, the virtualenv's directory.
set -euo pipefail
version=0.7.0
cache="${INFERENCE_BENCH_CACHE:-$HOME/.cache/inference-bench}"

# shellcheck source=python-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/python-env.sh"

python=$(find_python)
py_version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
venv="$cache/python/inference-perf-$version-py$py_version"
# Written last: a virtualenv without it was interrupted half-way and is made again.
stamp="$venv/.installed"
if [[ -f "$stamp" ]]; then
  echo "inference-perf: cache hit ($version, Python $py_version)" >&2
  echo "$venv"
  exit 0
fi
mkdir -p "$cache/python"
exec 9>"$cache/python/.inference-perf.lock"
flock 9
if [[ ! -f "$stamp" ]]; then
  start=$(date +%s)
  echo "installing inference-perf $version with Python $py_version ($python)" >&2
  # Built under its final name: a virtualenv's scripts name their directory.
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "inference-perf==$version" >&2
  touch "$stamp"
  echo "inference-perf installed in $(( $(date +%s) - start )) s" >&2
fi
echo "$venv"

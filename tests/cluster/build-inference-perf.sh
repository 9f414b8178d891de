#!/usr/bin/env bash
# Installs inference-perf 0.7.0 (the peer this project is compared with) from PyPI into a
# virtualenv cached outside the clone, with a Python >= 3.12 found on this machine (pyenv's
# versions or python3.12/3.13 on PATH). Prints, on its last line, the virtualenv's directory.
set -euo pipefail
version=0.7.0
cache="${INFERENCE_BENCH_CACHE:-$HOME/.cache/inference-bench}"

find_python() {
  local candidate
  for candidate in python3.13 python3.12 "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      command -v "$candidate"
      return
    fi
  done
  echo "build-inference-perf.sh: no Python >= 3.12 found (inference-perf $version needs one); install one, e.g. with pyenv" >&2
  exit 1
}

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

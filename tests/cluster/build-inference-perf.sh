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
cached_venv "inference-perf $version" "$cache/python/inference-perf-$version-py$py_version" "$cache/python/.inference-perf.lock" "$python" "inference-perf==$version"

#!/usr/bin/env bash
# Installs the real-server matrix's Python programs (uvicorn + FastAPI, the HTTP stack under
# vLLM's and SGLang's OpenAI servers, and httpx, the reference client) from PyPI into a
# virtualenv cached outside the clone, keyed on python/requirements.txt, the Python version and
# this script's recipe. Prints, on its last line, the virtualenv's directory.
set -euo pipefail
# Bump when the way the virtualenv is made changes.
recipe=1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
requirements="$here/python/requirements.txt"
cache="${INFERENCE_BENCH_CACHE:-$HOME/.cache/inference-bench}"

# shellcheck source=python-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/python-env.sh"

python=$(find_python)
py_version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
key=$( { cat "$requirements"; echo "recipe=$recipe python=$py_version"; } | sha256sum | cut -c1-12)
cached_venv "python servers" "$cache/python/servers-py$py_version-$key" "$cache/python/.servers.lock" "$python" -r "$requirements"

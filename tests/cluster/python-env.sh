# Sourced by the build scripts of the harness's virtualenvs. `find_python` prints a Python >= 3.12
# found on this machine (python3.13/3.12 on PATH, pyenv's versions, python3), or exits.
find_python() {
  local candidate
  for candidate in python3.13 python3.12 "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      command -v "$candidate"
      return
    fi
  done
  echo "$(basename "$0"): no Python >= 3.12 found; install one, e.g. with pyenv" >&2
  exit 1
}

# `cached_venv LABEL VENV LOCK PIP_ARGS...` prints VENV, made with `find_python`'s Python and
# `pip install PIP_ARGS` unless already complete; concurrent callers share one install (LOCK).
cached_venv() {
  local label=$1 venv=$2 lock=$3 python=$4 start
  shift 4
  # Written last: a virtualenv without it was interrupted half-way and is made again.
  local stamp="$venv/.installed"
  if [[ -f "$stamp" ]]; then
    echo "$label: cache hit ($(basename "$venv"))" >&2
    echo "$venv"
    return
  fi
  mkdir -p "$(dirname "$lock")"
  exec 9>"$lock"
  flock 9
  if [[ ! -f "$stamp" ]]; then
    start=$(date +%s)
    echo "installing $label with $python" >&2
    # Built under its final name: a virtualenv's scripts name their directory.
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
    touch "$stamp"
    echo "$label installed in $(( $(date +%s) - start )) s" >&2
  fi
  echo "$venv"
}

# Sourced by the build scripts of the harness's virtualenvs: `find_python` prints a Python >= 3.12
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

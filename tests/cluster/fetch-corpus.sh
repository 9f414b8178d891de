#!/usr/bin/env bash
# The English corpus a realistic test tokenizer is trained on (ibench_testkit::bpe32k): the
# project's shipped sonnets plus Debian's `fortunes` collection (~2.4 MB of quotations, stories
# and jokes; the Hugging Face hub, where real tokenizers live, is unreachable here). The package
# is downloaded with `apt-get download` (no installation, no root needed) and unpacked into the
# cache once. Prints, on its last line, the corpus file.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${INFERENCE_BENCH_CACHE:-$HOME/.cache/inference-bench}"
recipe=1
sonnets="$repo/runner/core/assets/corpus/sonnets.txt"
key=$( { echo "recipe $recipe"; sha256sum "$sonnets" | cut -c1-64; } | sha256sum | cut -c1-12)
dir="$cache/corpus/fortunes-$key"
if [[ ! -s $dir/corpus.txt ]]; then
  mkdir -p "$cache/corpus"
  exec 8>"$cache/corpus/.lock"
  flock 8
  if [[ ! -s $dir/corpus.txt ]]; then
    work=$(mktemp -d "$cache/corpus/.build.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && { apt-get download fortunes >&2 ||
      { flock "$cache/.apt.lock" apt-get update >&2 && apt-get download fortunes >&2; }; })
    dpkg-deb -x "$work"/fortunes_*.deb "$work/root"
    # The plain collections only: `.dat` files are strfile indexes, `.u8` the same texts again.
    { cat "$sonnets"
      find "$work/root/usr/share/games/fortunes" -maxdepth 1 -type f ! -name '*.dat' ! -name '*.u8' \
        -print0 | sort -z | xargs -0 cat; } > "$work/corpus.txt"
    rm -rf "$dir"
    mkdir -p "$dir"
    mv "$work/corpus.txt" "$dir/corpus.txt"
  fi
fi
echo "$dir/corpus.txt"

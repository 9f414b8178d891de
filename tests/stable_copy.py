#!/usr/bin/env python3
"""Mirrors a checkout's files (tracked, plus untracked ones git does not ignore) into a fixed
directory, rewriting only the files whose bytes differ and deleting the ones the checkout no
longer has. Usage: stable_copy.py SOURCE DEST.

Why: cargo decides what to rebuild from the absolute paths and modification times recorded in
its dep-info files. A fresh clone in a new directory (every CI run) therefore recompiles every
workspace crate, in the test and the release profile, even when nothing changed. Building from
one fixed directory whose unchanged files keep their old times lets cargo rebuild only what a
change touches, while the bytes built and tested are exactly the checkout's.
"""

import os
import shutil
import subprocess
import sys


def checkout_files(source):
    listing = subprocess.run(
        ["git", "-C", source, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
    ).stdout
    # A tracked file deleted in the working tree is listed but gone: the copy must lose it too.
    names = {name for name in listing.decode().split("\0") if name}
    return {name for name in names if os.path.lexists(os.path.join(source, name))}


def same(source_path, dest_path):
    if os.path.islink(source_path) or os.path.islink(dest_path):
        return (
            os.path.islink(source_path)
            and os.path.islink(dest_path)
            and os.readlink(source_path) == os.readlink(dest_path)
        )
    if not os.path.isfile(dest_path):
        return False
    source_stat, dest_stat = os.stat(source_path), os.stat(dest_path)
    if source_stat.st_size != dest_stat.st_size or source_stat.st_mode != dest_stat.st_mode:
        return False
    with open(source_path, "rb") as a, open(dest_path, "rb") as b:
        return a.read() == b.read()


def replace(source_path, dest_path):
    if os.path.isdir(dest_path) and not os.path.islink(dest_path):
        shutil.rmtree(dest_path)
    elif os.path.lexists(dest_path):
        os.remove(dest_path)
    os.makedirs(os.path.dirname(dest_path), exist_ok=True)
    if os.path.islink(source_path):
        os.symlink(os.readlink(source_path), dest_path)
    else:
        # A new modification time on purpose: cargo must see this file as changed.
        shutil.copyfile(source_path, dest_path)
        shutil.copymode(source_path, dest_path)


def remove_extras(dest, wanted):
    """Deletes what the checkout does not have, deepest first, so emptied folders go too."""
    for root, dirs, files in os.walk(dest, topdown=False):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = os.path.join(root, name)
            if os.path.relpath(path, dest) not in wanted:
                os.remove(path)
        for name in dirs:
            path = os.path.join(root, name)
            if not os.path.islink(path) and not os.listdir(path):
                os.rmdir(path)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: stable_copy.py SOURCE DEST")
    source, dest = (os.path.abspath(arg) for arg in sys.argv[1:])
    wanted = checkout_files(source)
    os.makedirs(dest, exist_ok=True)
    remove_extras(dest, wanted)
    rewritten = 0
    for name in sorted(wanted):
        source_path, dest_path = os.path.join(source, name), os.path.join(dest, name)
        if not same(source_path, dest_path):
            replace(source_path, dest_path)
            rewritten += 1
    print(f"stable_copy.py: {len(wanted)} files in {dest}, {rewritten} rewritten", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Fails when modules of a workspace crate use each other in a cycle.

cargo-modules (rust-analyzer's name resolution, re-exports followed to the defining item) lists
every `use` edge between items; an item belongs to the innermost module that holds it, and an
edge between items of two different modules is an edge between those modules. Its own
`--acyclic` check works on items and flags every method of a type (`T` -> `T::new` -> `T`),
so the cycles are looked for here, among modules. What it does not see (paths written inside
function bodies, constants) a review has to catch.

Usage: tests/module_cycles.py  (cargo-modules on PATH; run from the workspace root)
"""

import json
import re
import subprocess
import sys

NODE = re.compile(r'^\s*"([^"]+)" \[label="([^"|]*)\|')
USES = re.compile(r'^\s*"([^"]+)" -> "([^"]+)" \[label="uses"')


def targets():
    """(package, cargo-modules target flags) of every lib and bin of the workspace's members."""
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--no-deps", "--format-version", "1"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    for package in metadata["packages"]:
        for target in package["targets"]:
            if "lib" in target["kind"]:
                yield package["name"], ["--lib"]
            elif "bin" in target["kind"]:
                yield package["name"], ["--bin", target["name"]]


def module_graph(dot):
    modules = set()
    items = set()
    edges = []
    for line in dot.splitlines():
        if m := NODE.match(line):
            kind = m.group(2).split()[-1]
            (modules if kind in ("mod", "crate") else items).add(m.group(1))
        elif m := USES.match(line):
            edges.append((m.group(1), m.group(2)))

    def module_of(path):
        while path not in modules and "::" in path:
            path = path.rsplit("::", 1)[0]
        return path

    graph = {m: set() for m in modules}
    for source, target in edges:
        a, b = module_of(source), module_of(target)
        if a != b and a in graph and b in graph:
            graph[a].add(b)
    return graph


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def main():
    failed = False
    for package, flags in targets():
        dot = subprocess.run(
            ["cargo", "modules", "dependencies", "-p", package, *flags]
            + ["--no-externs", "--no-sysroot"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        graph = module_graph(dot)
        found = cycles(graph)
        target = " ".join([package, *flags])
        if found:
            failed = True
            for component in found:
                print(f"module cycle in {target}: {' <-> '.join(component)}", file=sys.stderr)
        else:
            print(f"{target}: {len(graph)} modules, no cycles", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

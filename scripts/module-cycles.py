#!/usr/bin/env python3
"""Import cycles between the modules of a crate, from its `crate::`,
`super::` and `self::` paths.

    python3 scripts/module-cycles.py [shared/src]   # default: shared/src

Every file is a module (`engine/plan.rs` is `engine::plan`, `engine/mod.rs`
is `engine`). A path in code (a `use`, or an inline `crate::x::y`) is an
edge to the deepest module it names; comments and doc links are ignored,
and so are a module's references to its own submodules (declaring and
re-exporting children is structure, not a dependency). Prints the cycles
among files and among top-level modules (folders) and exits 1 if there is
one. Grep-level, not a compiler: a path built by a macro from pieces would
be missed, which this codebase does not do.
"""

import os
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_of(root, path):
    rel = os.path.relpath(path, root)[:-3].split(os.sep)
    if rel[-1] in ("lib", "main", "mod"):
        rel = rel[:-1]
    return tuple(rel)


def strip_comments(text):
    # Block comments, then line comments (string literals with `//` or
    # `/*` do not occur in module paths, so the crude cut is safe).
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def expand_use_tree(prefix, tree):
    """`a::{b, c::{d, e}}` relative to `prefix` -> [a::b, a::c::d, a::c::e]."""
    tree = tree.strip()
    brace = tree.find("{")
    if brace < 0:
        segs = prefix + [s for s in tree.split("::") if s]
        return [segs[:-1] if segs and segs[-1] == "self" else segs]
    head = [s for s in tree[:brace].split("::") if s]
    body = tree[brace + 1 : tree.rindex("}")]
    items, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(body[start:i])
            start = i + 1
    items.append(body[start:])
    paths = []
    for item in items:
        item = re.sub(r"\s+as\s+" + IDENT, "", item).strip()
        if item:
            paths += expand_use_tree(prefix + head, item)
    return paths


def references(text, here):
    """Absolute module paths (tuples) that `text`, the module `here`, names."""
    out = []

    def absolute(segments):
        segs = list(segments)
        if segs and segs[0] in ("crate", "$crate"):
            return tuple(segs[1:])
        base = list(here)
        if segs and segs[0] == "self":
            segs = segs[1:]
        else:
            while segs and segs[0] == "super":
                base = base[:-1]
                segs = segs[1:]
        return tuple(base + segs)

    for m in re.finditer(r"\buse\s+([^;]+);", text):
        tree = m.group(1).strip()
        if not re.match(r"(\$?crate|super|self)\b", tree):
            continue
        for segs in expand_use_tree([], tree):
            out.append(absolute(segs))
    for m in re.finditer(
        r"(?<![A-Za-z0-9_:])((?:\$?crate|super)(?:::(?:super|" + IDENT + "))+)", text
    ):
        out.append(absolute(m.group(1).split("::")))
    return out


def resolve(path, modules):
    for n in range(len(path), -1, -1):
        if path[:n] in modules:
            return path[:n]
    return ()


def tarjan(nodes, edges):
    index, low, on, stack, sccs, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                sccs.append(sorted(scc))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return sccs


def name(module):
    return "::".join(("crate",) + module)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "shared/src"
    files = {}
    for dirpath, _, names in os.walk(root):
        for f in names:
            if f.endswith(".rs"):
                path = os.path.join(dirpath, f)
                files[module_of(root, path)] = path
    modules = set(files)
    edges, why = {}, {}
    for here, path in files.items():
        with open(path, encoding="utf-8") as fh:
            text = strip_comments(fh.read())
        for ref in references(text, here):
            target = resolve(ref, modules)
            if target == here or target[: len(here)] == here:
                continue  # itself or one of its submodules
            edges.setdefault(here, set()).add(target)
            why.setdefault((here, target), name(ref))

    found = False
    for scc in tarjan(modules, edges):
        found = True
        print("file cycle:", ", ".join(name(m) for m in scc))
        for a in scc:
            for b in scc:
                if b in edges.get(a, ()):
                    print(f"    {files[a]} -> {name(b)}  (e.g. {why[(a, b)]})")

    top = lambda m: m[:1]
    top_edges = {}
    for a, targets in edges.items():
        for b in targets:
            if top(a) != top(b) and top(a) and top(b):
                top_edges.setdefault(top(a), set()).add(top(b))
    for scc in tarjan({top(m) for m in modules if m}, top_edges):
        found = True
        print("folder cycle:", ", ".join(name(m) for m in scc))
        for a in scc:
            for b in sorted(top_edges.get(a, ())):
                if b in scc:
                    files_ab = sorted(
                        files[f] for f in edges if top(f) == a and any(top(t) == b for t in edges[f])
                    )
                    print(f"    {name(a)} -> {name(b)}: {', '.join(files_ab)}")
    if not found:
        print(f"no import cycles among the {len(modules)} modules of {root}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

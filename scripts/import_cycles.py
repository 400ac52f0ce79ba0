#!/usr/bin/env python3
"""Prints the module import cycles of a crate's src folder (CYCLE: lines), and with
a bottom-first list of context folders, the paths that point up (UPWARD:).
  python3 scripts/import_cycles.py domain/src crate kernel,platform,identity,customers,billing,service_desk,inventory,integrations,reports
  python3 scripts/import_cycles.py jobs/src
Nothing printed: no cycle. domain/tests/context_arrows.rs checks the contexts in the test suite."""
import os, re, sys
src = sys.argv[1]; prefix = sys.argv[2] if len(sys.argv) > 2 else "crate"
mods = {}
for d, _, fs in os.walk(src):
    for f in fs:
        if not f.endswith(".rs"): continue
        p = os.path.relpath(os.path.join(d, f), src)[:-3]
        parts = p.split("/")
        if parts[-1] == "mod": parts = parts[:-1]
        if parts == ["lib"] or parts == ["main"]: continue
        mods["::".join(parts)] = os.path.join(d, f)
names = set(mods)
def deps(path):
    text = open(path).read()
    text = re.sub(r"//.*", "", text)
    text = re.sub(r"#\[cfg\(test\)\]\s*mod tests \{.*", "", text, flags=re.S)
    out = set()
    # expand use crate::{a::b, c} groups roughly
    for m in re.finditer(r"crate::\{([^;]*)\}", text):
        for it in re.split(r"[,\s]+", m.group(1)):
            out.add(it.strip("{} "))
    for m in re.finditer(r"crate::((?:[a-z_0-9]+::)*[a-z_0-9]+)", text):
        out.add(m.group(1))
    res = set()
    for o in out:
        segs = o.split("::")
        for i in range(len(segs), 0, -1):
            c = "::".join(segs[:i])
            if c in names: res.add(c); break
    return res
G = {m: deps(p) - {m} for m, p in mods.items()}
# drop parent-module edges (mod.rs just declares)
idx, low, st, on, sccs, c = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
    for w in G[v]:
        if w not in idx: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        sccs.append(comp)
for v in G:
    if v not in idx: sc(v)
for comp in sccs:
    if len(comp) > 1: print("CYCLE:", sorted(comp))
if len(sys.argv) > 3:
    order = sys.argv[3].split(",")
    rank = {c: i for i, c in enumerate(order)}
    for m, ds in sorted(G.items()):
        cm = m.split("::")[0]
        for d in sorted(ds):
            cd = d.split("::")[0]
            if cm in rank and cd in rank and rank[cd] > rank[cm]:
                print("UPWARD:", m, "->", d)

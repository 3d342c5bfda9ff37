"""Lineage: the graph of runs and artifact versions joined by input and output edges.

An output edge says a run logged a version (run -> version); an input edge says a run used one
(version -> run). The same builder serves the local registry and the server, so both draw the same
graph from the same edges.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Dict, Iterable, List, NamedTuple, Set

INPUT, OUTPUT = "input", "output"
DIRECTIONS = (INPUT, OUTPUT)


class Edge(NamedTuple):
    """One run <-> artifact version edge."""

    run: str          # the run's uuid
    run_label: str    # what to show for the run (its name or id)
    artifact: str     # the artifact's name
    version: int
    direction: str    # INPUT (the run used the version) or OUTPUT (the run logged it)


def version_node(artifact: str, version: int) -> str:
    return f"artifact:{artifact}:v{version}"


def run_node(uuid: str) -> str:
    return f"run:{uuid}"


def graph(edges: Iterable[Edge], start: str, depth: int = 10, max_nodes: int = 500) -> Dict[str, Any]:
    """The nodes and edges reachable from node ``start`` (``run:<uuid>`` or ``artifact:<name>:vN``)
    within ``depth`` hops, following edges both ways: ``{"nodes": [{id, kind, label}], "edges":
    [{from, to, direction}]}`` with every edge pointing the way data flowed (run -> output,
    input -> run)."""
    adj: Dict[str, List[Edge]] = {}
    labels: Dict[str, str] = {}
    for e in edges:
        r, a = run_node(e.run), version_node(e.artifact, e.version)
        adj.setdefault(r, []).append(e)
        adj.setdefault(a, []).append(e)
        labels[r] = e.run_label
    seen: Set[str] = {start}
    queue = deque([(start, 0)])
    out_edges: Dict[tuple, Dict[str, str]] = {}
    while queue:
        node, d = queue.popleft()
        if d >= depth:
            continue
        for e in adj.get(node, ()):
            r, a = run_node(e.run), version_node(e.artifact, e.version)
            src, dst = (r, a) if e.direction == OUTPUT else (a, r)
            out_edges[(src, dst)] = {"from": src, "to": dst, "direction": e.direction}
            other = a if node == r else r
            if other not in seen and len(seen) < max_nodes:
                seen.add(other)
                queue.append((other, d + 1))
    nodes = []
    for n in sorted(seen):
        if n.startswith("run:"):
            nodes.append({"id": n, "kind": "run", "label": labels.get(n, n[4:12]), "uuid": n[4:]})
        else:
            _, name, v = n.split(":", 2)
            nodes.append({"id": n, "kind": "artifact", "label": f"{name}:{v}", "artifact": name, "version": int(v[1:])})
    kept = [e for e in out_edges.values() if e["from"] in seen and e["to"] in seen]
    return {"nodes": nodes, "edges": sorted(kept, key=lambda e: (e["from"], e["to"]))}

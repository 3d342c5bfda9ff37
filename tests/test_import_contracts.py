"""The layers of docs/architecture.md hold: import-linter's contracts in pyproject.toml
([tool.importlinter]: no circle, ground floor, core knows no server/framework/workload, server knows
no framework, adapters use only the public API), and no module import circle anywhere in seetrain/
(the package's own ``__init__`` included, which import-linter's sibling check leaves out)."""

from __future__ import annotations

import os
import subprocess
from typing import Dict, List, Set

import pytest

import seetrain
from tests._child import CHECKOUT, run_python

grimp = pytest.importorskip("grimp", reason="import-linter is in the dev extra: pip install -e .[dev]")
pytest.importorskip("importlinter", reason="import-linter is in the dev extra: pip install -e .[dev]")

try:
    import tomllib
except ImportError:  # Python < 3.11: import-linter depends on tomli there
    import tomli as tomllib  # type: ignore[no-redef]

PYPROJECT = os.path.join(CHECKOUT, "pyproject.toml")


def known_exceptions() -> Set[tuple]:
    """The imports the circle contract ignores for now (issue 22), as (importer, imported)."""
    with open(PYPROJECT, "rb") as f:
        contracts = tomllib.load(f)["tool"]["importlinter"]["contracts"]
    acyclic = next(c for c in contracts if c["type"] == "acyclic_siblings")
    return {tuple(part.strip() for part in item.split("->")) for item in acyclic.get("ignore_imports", [])}


def import_circles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_the_checkout_under_test_is_analysed():
    assert os.path.dirname(os.path.abspath(seetrain.__file__)) == os.path.join(CHECKOUT, "seetrain")


def lint(config: str) -> "subprocess.CompletedProcess[str]":
    """``lint-imports`` on ``config`` in a child process that imports this checkout."""
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))")
    return run_python(["-c", code, config], cwd=CHECKOUT, capture_output=True, text=True, timeout=240)


def test_import_linter_contracts_are_kept():
    done = lint(PYPROJECT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broken" in done.stdout and " 0 broken" in done.stdout


def test_a_broken_contract_fails_the_check(tmp_path):
    """The check can fail: a contract the code breaks (Run does import run_start) is reported by name."""
    config = tmp_path / "contracts.toml"
    config.write_text('[tool.importlinter]\nroot_package = "seetrain"\n\n[[tool.importlinter.contracts]]\n'
                      'name = "run_start knows no Run"\ntype = "forbidden"\nsource_modules = ["seetrain.run"]\n'
                      'forbidden_modules = ["seetrain.run_start"]\n')
    done = lint(str(config))
    assert done.returncode == 1
    assert "run_start knows no Run BROKEN" in done.stdout


def test_no_module_import_circle_in_seetrain():
    g = grimp.build_graph("seetrain", cache_dir=None)
    skip = known_exceptions()
    graph = {m: {i for i in g.find_modules_directly_imported_by(m) if (m, i) not in skip} for m in g.modules}
    assert import_circles(graph) == []


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert import_circles(graph) == [["a", "b", "c"]]


def test_every_known_exception_is_still_needed():
    """An exception whose import is gone must leave the list (issue 22: remove it when that part lands)."""
    g = grimp.build_graph("seetrain", cache_dir=None)
    gone = [f"{a} -> {b}" for a, b in known_exceptions() if b not in g.find_modules_directly_imported_by(a)]
    assert gone == []

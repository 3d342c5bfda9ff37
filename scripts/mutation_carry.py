"""Carry mutmut verdicts from an older copy of a module into a fresh copy of a later commit.

    python scripts/mutation_carry.py OLD_COPY NEW_COPY seetrain/server/ingest.py [--survivors]

Both copies are ``scripts/mutation.sh`` work folders ($MUTATION_DIR/<name>). mutmut keeps a hash of
each function's source in ``mutants/<file>.meta``: a verdict is carried only for a function whose
hash is the same in both copies, and only where the new copy has none yet. *killed* (exit 1) and
*timeout* (-24) are always carried (a test that failed on the mutant still fails: tests are only
added); survivors (exit 0) only with ``--survivors``, which first checks that every test file of the
module's selection (``setup.cfg``) is the same in both copies, so a survivor would survive again.
Run it between the fresh copy's first (stopped) run and ``MUTATION_RESUME=1 scripts/mutation.sh``.
"""

from __future__ import annotations

import argparse
import collections
import configparser
import filecmp
import json
import os
import sys

KILLED, TIMEOUT, SURVIVED = 1, -24, 0


def _selection(copy: str) -> list:
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(copy, "setup.cfg"))
    lines = cfg.get("mutmut", "pytest_add_cli_args_test_selection", fallback="").split()
    return sorted({t.split("::")[0] for t in lines})


def _function(key: str) -> str:
    return key.split(".")[-1].rsplit("__mutmut_", 1)[0]


def carry(old_copy: str, new_copy: str, source: str, survivors: bool) -> None:
    keep = {KILLED, TIMEOUT}
    if survivors:
        tests = _selection(new_copy)
        differ = [t for t in tests if not os.path.exists(os.path.join(old_copy, t))
                  or not filecmp.cmp(os.path.join(old_copy, t), os.path.join(new_copy, t), shallow=False)]
        if differ or tests != _selection(old_copy):
            sys.exit(f"--survivors: the test selection differs between the copies ({', '.join(differ) or 'setup.cfg'})")
        keep.add(SURVIVED)
    old_path, new_path = (os.path.join(c, "mutants", source + ".meta") for c in (old_copy, new_copy))
    with open(old_path) as f:
        old = json.load(f)
    with open(new_path) as f:
        new = json.load(f)
    same = {fn for fn, h in new["hash_by_function_name"].items() if old["hash_by_function_name"].get(fn) == h}
    carried = collections.Counter()
    for key, verdict in old["exit_code_by_key"].items():
        if _function(key) in same and verdict in keep and new["exit_code_by_key"].get(key, 0) is None:
            new["exit_code_by_key"][key] = verdict
            carried[verdict] += 1
    with open(new_path + ".tmp", "w") as f:
        json.dump(new, f)
    os.replace(new_path + ".tmp", new_path)
    changed = sorted(set(new["hash_by_function_name"]) - same)
    names = {KILLED: "killed", TIMEOUT: "timeout", SURVIVED: "survived"}
    print(f"{source}: carried " + (", ".join(f"{n} {names[v]}" for v, n in sorted(carried.items())) or "nothing") +
          f"; changed or new functions (run again): {', '.join(changed) or 'none'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("old_copy")
    p.add_argument("new_copy")
    p.add_argument("source", help="the mutated file, e.g. seetrain/server/ingest.py")
    p.add_argument("--survivors", action="store_true", help="carry survivors too (same test files only)")
    a = p.parse_args()
    carry(a.old_copy, a.new_copy, a.source, a.survivors)


if __name__ == "__main__":
    main()

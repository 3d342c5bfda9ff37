"""Helpers for tests that run a training script in a real child process."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from typing import Dict, List

from tests._child import run_python


def run_script(tmp_path, code: str, *args: str, timeout: float = 120, env: Dict[str, str] = None,
               python_flags: List[str] = ()) -> subprocess.CompletedProcess:
    """Run ``code`` as a script (argv[1] is a fresh logdir) and return the finished process."""
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(code))
    return run_python([*python_flags, str(script), str(tmp_path / "logs"), *args],
                      capture_output=True, text=True, timeout=timeout, env=dict(os.environ, **(env or {})))


def lines(run_dir: str) -> List[dict]:
    """Every line of records.jsonl, parsed (a line that does not parse fails the test)."""
    with open(os.path.join(run_dir, "records.jsonl"), "rb") as f:
        raw = f.read()
    assert raw == b"" or raw.endswith(b"\n"), "records.jsonl ends in a partial line"
    return [json.loads(line) for line in raw.split(b"\n")[:-1]]


def meta(run_dir: str) -> dict:
    with open(os.path.join(run_dir, "run.json")) as f:
        return json.load(f)


def assert_seqs_complete(recs: List[dict]) -> None:
    """Each seq 0..N-1 exactly once, counting the seqs that ``lost`` events name."""
    seqs = [r["seq"] for r in recs]
    for r in recs:
        if r.get("type") == "event" and r.get("event") == "lost":
            for a, b in r.get("ranges") or [[r["first_seq"], r["last_seq"]]]:
                seqs.extend(range(a, b + 1))
    assert len(seqs) == len(set(seqs)), "a seq appears twice"
    assert sorted(seqs) == list(range(len(seqs))), "seqs have a gap"

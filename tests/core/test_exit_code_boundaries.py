"""Exit codes outside 0..255: the run records the status the process really exits with (the low
byte), compared with the child's own returncode, never the number passed to ``sys.exit``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.core._scripts import lines, meta

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run_child(tmp_path, ending: str) -> subprocess.CompletedProcess:
    """A real program that starts a run and ends with ``ending``; it imports this checkout."""
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import sys, seetrain
        run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False, console="off")
        run.log({"loss": 1.0})
        print(run.dir, seetrain.__file__, flush=True)
    """) + ending + "\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    return subprocess.run([sys.executable, str(script), str(tmp_path / "logs")], capture_output=True, text=True,
                          timeout=120, env=env, cwd=str(tmp_path))


@pytest.mark.parametrize("ending, status", [
    ("sys.exit(256)", "success"),      # the process exits 0
    ("sys.exit(-1)", "failed"),        # the process exits 255
    ("sys.exit(257)", "failed"),       # the process exits 1
    ("sys.exit(512 + 7)", "failed"),   # the process exits 7
])
def test_recorded_exit_code_is_the_one_the_process_exits_with(tmp_path, ending, status):
    out = _run_child(tmp_path, ending)
    run_dir, imported = out.stdout.split()
    assert imported.startswith(os.path.join(ROOT, "seetrain")), imported  # the code under test ran
    m = meta(run_dir)
    assert (m["status"], m["exit_code"]) == (status, out.returncode), out.stderr
    fin = [r for r in lines(run_dir) if r.get("event") == "finish"]
    assert [(r["status"], r["exit_code"]) for r in fin] == [(status, out.returncode)]

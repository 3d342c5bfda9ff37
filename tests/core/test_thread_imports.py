"""seetrain.thread_imports: a fork while a SeeTrain thread imports a module for the first time waits
for that import, so the child can import the module too (without the wait the child inherits the
module's lock, held by a thread it does not have, and hangs on its first import of it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests._child import run_python

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork")

SCRIPT = textwrap.dedent("""
    import os, sys, threading, time
    sys.path.insert(0, sys.argv[1])
    from seetrain import thread_imports

    flag = os.path.join(sys.argv[1], "importing")
    worker = threading.Thread(target=thread_imports.load, args=("slowmod",))
    worker.start()
    while not os.path.exists(flag):  # the thread is inside slowmod's import (it sleeps there)
        time.sleep(0.005)
    pid = os.fork()
    if pid == 0:
        import slowmod  # hangs for ever if the fork came while the thread held slowmod's lock
        os.write(1, f"child {slowmod.VALUE}\\n".encode())
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    worker.join()
    print("parent", os.waitstatus_to_exitcode(status), sys.modules["slowmod"].VALUE, flush=True)
""")


def test_a_fork_during_a_threads_first_import_waits_and_the_child_imports_it(tmp_path):
    (tmp_path / "slowmod.py").write_text(
        "import os, sys, time\n"
        "open(os.path.join(os.path.dirname(__file__), 'importing'), 'w').close()\n"
        "time.sleep(0.5)\n"
        "VALUE = 7\n")
    script = tmp_path / "fork.py"
    script.write_text(SCRIPT)
    try:
        out = run_python([str(script), str(tmp_path)], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired as exc:  # the child hung on slowmod's inherited lock
        raise AssertionError(f"the forked child hung: {exc.stdout!r}") from None
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.split("\n")[:2]) == ["child 7", "parent 0 7"], out.stdout


def test_a_thread_that_never_finishes_its_import_does_not_stop_a_fork_for_ever():
    """The wait is bounded (WAIT seconds): a fork still happens."""
    from seetrain import thread_imports

    with thread_imports.importing():
        assert thread_imports.wait_for_imports(0.05) is False
    assert thread_imports.wait_for_imports(0.05) is True

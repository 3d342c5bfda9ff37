"""Child Python processes started by the tests import this checkout, not another install of seetrain."""

from __future__ import annotations

import os

import seetrain
from tests._child import CHECKOUT, child_env, run_python

PRINT_FILE = "import seetrain; print(seetrain.__file__)"


def test_the_tests_import_this_checkout():
    assert os.path.realpath(seetrain.__file__) == os.path.realpath(os.path.join(CHECKOUT, "seetrain", "__init__.py"))


def test_a_script_elsewhere_imports_the_same_seetrain_as_the_tests(tmp_path):
    # A script in another folder gets that folder first on sys.path, and a decoy seetrain already on
    # PYTHONPATH stands for another checkout's install: the child must still import this checkout.
    decoy = tmp_path / "other_checkout" / "seetrain"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("")
    script = tmp_path / "child.py"
    script.write_text(PRINT_FILE)
    out = run_python([str(script)], cwd=str(tmp_path), capture_output=True, text=True, timeout=60,
                     env=dict(os.environ, PYTHONPATH=str(decoy.parent)), check=True)
    assert os.path.realpath(out.stdout.strip()) == os.path.realpath(seetrain.__file__)
    assert child_env(PYTHONPATH=str(decoy.parent))["PYTHONPATH"].split(os.pathsep) == [CHECKOUT, str(decoy.parent)]


def test_inline_code_from_another_cwd_imports_the_same_seetrain(tmp_path):
    out = run_python(["-c", PRINT_FILE], cwd=str(tmp_path), capture_output=True, text=True, timeout=60, check=True)
    assert os.path.realpath(out.stdout.strip()) == os.path.realpath(seetrain.__file__)


def test_children_left_running_are_reaped_at_the_end_of_the_session():
    from tests._child import popen_python, reap_children

    proc = popen_python(["-c", "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)"])
    assert proc.poll() is None
    assert reap_children() >= 1
    assert proc.wait(timeout=10) == -9


def test_a_suite_started_in_the_background_still_gives_its_children_ctrl_c(tmp_path):
    # A shell starts a background job (`pytest ... &`) with SIGINT ignored, and an ignored signal is
    # inherited through exec: every child would then shrug off the Ctrl-C the exit tests send it.
    # The suite restores the default (tests/conftest.py), so the Ctrl-C tests hold however it is run.
    import signal
    import subprocess
    import sys

    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/core/test_exits.py::test_ctrl_c_is_killed_in_every_path"],
                          cwd=CHECKOUT, env=child_env(), preexec_fn=ignore_sigint, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]

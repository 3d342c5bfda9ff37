"""What the process hooks promise beyond the exit codes (mutation survivors of ``lifecycle.py``):
the current run, a Ctrl-C turned into ``exit(n)``, SIGTERM dispositions a program chose across
``fork()``, and a forked child's run ending as the child ends, not as its parent did."""

import pytest

import seetrain
from tests.core._scripts import meta, run_script


def test_get_run_is_the_newest_open_run_then_the_one_before(logdir):
    assert seetrain.get_run() is None
    first = seetrain.init(project="p", system_metrics=False)
    second = seetrain.init(project="p", system_metrics=False)
    assert seetrain.get_run() is second
    seetrain.log({"x": 1})  # goes to the newest run
    second.finish()
    assert seetrain.get_run() is first
    first.finish()
    assert seetrain.get_run() is None
    assert seetrain.read_run(second.dir).scalars("x").values == [1]
    assert seetrain.read_run(first.dir).keys() == []


CTRL_C_THEN_EXIT = """
    import sys, seetrain
    run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
    print(run.dir, flush=True)
    try:
        raise KeyboardInterrupt  # Ctrl-C during training
    except KeyboardInterrupt:
        {call}(2)               # the script's own Ctrl-C handling ends the program with a code
"""


@pytest.mark.parametrize("call", ["sys.exit", "exit", "quit"])
def test_ctrl_c_handled_by_exiting_with_a_code_is_killed(tmp_path, call):
    out = run_script(tmp_path, CTRL_C_THEN_EXIT.format(call=call))
    assert out.returncode == 2, out.stderr[-2000:]
    m = meta(out.stdout.split()[0])
    assert (m["status"], m["exit_code"]) == ("killed", 2)


DISPOSITION_ACROSS_FORK = """
    import os, signal, sys, threading, seetrain

    def own_handler(signum, frame):
        pass

    if sys.argv[2] == "own-handler":
        signal.signal(signal.SIGTERM, own_handler)   # before init: SeeTrain leaves it alone
    run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
    if sys.argv[2] == "set-back-to-default":
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # after init: the program's choice
    expected = {"own-handler": own_handler}.get(sys.argv[2], signal.SIG_DFL)  # in the child
    before = signal.getsignal(signal.SIGTERM)                                  # in the parent

    def fork_and_look():
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(w, b"same" if signal.getsignal(signal.SIGTERM) is expected else b"changed")
            os._exit(0)
        os.close(w)
        print("child", os.read(r, 10).decode(), flush=True)
        os.waitpid(pid, 0)

    if sys.argv[2] == "from-a-thread":
        t = threading.Thread(target=fork_and_look)
        t.start(); t.join()
    else:
        fork_and_look()
    print("parent", "same" if signal.getsignal(signal.SIGTERM) is before else "changed", flush=True)
    run.finish()
"""


@pytest.mark.parametrize("case", ["own-handler", "set-back-to-default", "from-a-thread"])
def test_fork_keeps_the_sigterm_disposition_the_program_chose(tmp_path, case):
    """A program's own handler is inherited by its children; a default the program set back after
    init stays the default in the parent and the child; a child forked from a thread other than
    the main one is born with the default too (as without SeeTrain)."""
    out = run_script(tmp_path, DISPOSITION_ACROSS_FORK, case)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["child", "same", "parent", "same"], (out.stdout, out.stderr[-2000:])


CHILD_RUNS_TO_THE_END = """
    import os, signal, sys, seetrain
    parent = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
    if sys.argv[2] == "caught-exit":
        try:
            sys.exit(3)            # caught: the program goes on
        except SystemExit:
            pass
    else:
        ours = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, lambda s, f: ours(s, f))  # a framework's handler chaining to ours
        os.kill(os.getpid(), signal.SIGTERM)
    pid = os.fork()
    if pid == 0:
        child = seetrain.init(project="c", logdir=sys.argv[1], system_metrics=False)
        child.log({"x": 1})
        print("child-run", child.dir, flush=True)
    else:
        _, status = os.waitpid(pid, 0)
        print("child-exit", os.waitstatus_to_exitcode(status), flush=True)
    # both processes end here, by reaching the end of the script
"""


@pytest.mark.parametrize("case", ["caught-exit", "handled-sigterm"])
def test_a_forked_childs_run_ends_as_the_child_ends(tmp_path, case):
    """A sys.exit the parent caught, or a SIGTERM its framework handled, before forking is the
    parent's story: the child's own run, ending at the end of the script, is a success."""
    out = run_script(tmp_path, CHILD_RUNS_TO_THE_END, case)
    assert out.returncode == 0, out.stderr[-3000:]
    words = out.stdout.split()
    child_dir = words[words.index("child-run") + 1]
    assert words[words.index("child-exit") + 1] == "0"
    m = meta(child_dir)
    assert (m["status"], m["exit_code"]) == ("success", 0)


EXIT_WITH = """
    import sys, seetrain
    run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
    print(run.dir, flush=True)
    {ending}
"""


@pytest.mark.parametrize("ending, code, status", [
    ("sys.exit()", 0, "success"),
    ("sys.exit(None)", 0, "success"),
    ("exit()", 0, "success"),
    ("sys.exit(False)", 0, "success"),   # a bool is an int to Python's exit: False is 0, True is 1
    ("sys.exit(True)", 1, "failed"),
])
def test_exit_without_a_number_is_recorded_as_python_exits(tmp_path, ending, code, status):
    out = run_script(tmp_path, EXIT_WITH.format(ending=ending))
    assert out.returncode == code, out.stderr[-2000:]
    m = meta(out.stdout.split()[0])
    assert (m["status"], m["exit_code"]) == (status, code)

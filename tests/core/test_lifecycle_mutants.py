"""SIGTERM at the edges of ``lifecycle._on_sigterm`` (survivors of the mutation run of
``lifecycle.py``, docs/testing.md): a SIGTERM a framework's handler takes and chains to SeeTrain's
(the run ends ``killed``), one that arrives while the runs are being finished at exit (that finish
completes, then the process dies of the signal), and one whose run end hangs (the process still
dies of it once the grace period is over)."""

import signal

from tests.core._scripts import meta, run_script

CHAINED_THEN_ENDS = """
    import os, signal, sys, seetrain
    run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
    print(run.dir, flush=True)
    ours = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda s, f: ours(s, f))  # a framework's handler chaining to ours
    os.kill(os.getpid(), signal.SIGTERM)                    # handled: the program goes on ...
    run.log({"x": 1})
    # ... and ends by reaching the end of the script
"""


def test_a_sigterm_a_framework_handled_ends_the_run_killed(tmp_path):
    out = run_script(tmp_path, CHAINED_THEN_ENDS)
    assert out.returncode == 0, out.stderr[-2000:]
    m = meta(out.stdout.split()[0])
    assert (m["status"], m["exit_code"]) == ("killed", 0)


# A SIGTERM delivered while the at-exit finish runs: a second owner registered after the run (so
# ended first, newest first) sends it from inside that finish, as a scheduler's signal could land.
SIGTERM_DURING_EXIT = """
    import os, signal, sys, seetrain
    from seetrain import lifecycle
    run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
    run.log({"x": 1})
    print(run.dir, flush=True)

    class Owner:
        sent = False

    def end(ending):
        if not Owner.sent:
            Owner.sent = True
            os.kill(os.getpid(), signal.SIGTERM)
            print("sent", ending.status, flush=True)

    lifecycle.register(Owner, end, lambda: None)
"""


def test_a_sigterm_during_the_exit_finish_waits_for_it_then_kills(tmp_path):
    out = run_script(tmp_path, SIGTERM_DURING_EXIT)
    assert out.stdout.split()[1:] == ["sent", "success"], (out.stdout, out.stderr[-2000:])
    m = meta(out.stdout.split()[0])
    assert (m["status"], m["exit_code"]) == ("success", 0)  # the ending the finish had begun with
    assert out.returncode == -signal.SIGTERM, out.stderr[-2000:]  # then the signal's default: death


# A run whose end never returns (a hung file system, say): SIGTERM gives the runs 10 s, then the
# process dies of the signal as it would without SeeTrain.
HUNG_END = """
    import os, signal, sys, threading, seetrain
    from seetrain import lifecycle

    class Owner:
        pass

    lifecycle.register(Owner, lambda ending: threading.Event().wait(), lambda: None)  # ended last
    run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
    print(run.dir, flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
    threading.Event().wait()
"""


def test_a_sigterm_whose_run_end_hangs_still_kills_after_the_grace(tmp_path):
    out = run_script(tmp_path, HUNG_END, timeout=90)
    assert out.returncode == -signal.SIGTERM, out.stderr[-2000:]
    m = meta(out.stdout.split()[0])
    assert (m["status"], m["exit_code"]) == ("killed", 143)  # the run ended before the hung one


# A forked multiprocessing worker that logs to a shared run becomes a writer of its own; it leaves
# through os._exit after multiprocessing's exit hooks, which run no atexit handler: the hook that
# lifecycle.finish_at_process_exit registers there must finish its writer.
PROCESS_WRITER = """
    import multiprocessing as mp, os, sys, seetrain
    run = seetrain.init(project="p", id="w", logdir=sys.argv[1], shared=True, writer="main",
                        system_metrics=False, console="off")

    def work():
        for j in range(50):
            seetrain.log({"j": j})

    if __name__ == "__main__":
        p = mp.get_context("fork").Process(target=work)
        p.start()
        p.join()
        run.finish()
        print(run.dir, p.pid, p.exitcode, flush=True)
"""


def test_a_multiprocessing_worker_that_returns_finishes_its_writer(tmp_path):
    import seetrain

    out = run_script(tmp_path, PROCESS_WRITER)
    assert out.returncode == 0, out.stderr[-3000:]
    run_dir, pid, code = out.stdout.split()
    assert code == "0" and "Traceback" not in out.stderr, out.stderr[-3000:]
    r = seetrain.read_run(run_dir)
    child = {w.label: w for w in r.writers}[f"main-fork{pid}"]
    assert (child.status, child.exit_code, child.n_records) == ("success", 0, 50 + 2)  # start and end events too
    assert r.scalars("j").values == list(range(50))


# A child forked from a thread other than the main one inherits SeeTrain's handler (the default is
# put in place across fork() by the main thread only). A SIGTERM that reaches the child before
# SeeTrain's after-fork hook ran (here: sent by a hook the program registered first, so run first)
# must kill it, as the default disposition would.
SIGTERM_BEFORE_THE_AFTER_FORK_HOOK = """
    import os, signal, sys, threading
    os.register_at_fork(after_in_child=lambda: os.kill(os.getpid(), signal.SIGTERM))
    import seetrain
    run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
    status = []

    def fork():
        pid = os.fork()
        if pid == 0:
            os._exit(0)  # reached only by a child that outlived the signal
        status.append(os.waitpid(pid, 0)[1])

    t = threading.Thread(target=fork)
    t.start()
    t.join()
    run.finish()
    print(os.waitstatus_to_exitcode(status[0]), flush=True)
"""


def test_a_child_forked_from_a_thread_dies_of_a_sigterm_sent_before_the_after_fork_hook(tmp_path):
    out = run_script(tmp_path, SIGTERM_BEFORE_THE_AFTER_FORK_HOOK)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [str(-signal.SIGTERM)], out.stderr[-2000:]


# An interactive session keeps the last uncaught error in sys.last_value; a run started after it
# must not take that old error for its own ending.
AFTER_AN_EARLIER_ERROR = """
    import sys, seetrain
    sys.last_value = ValueError("an error the session had before the run")  # what the REPL leaves
    run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
    run.log({"x": 1})
    print(run.dir, flush=True)
"""


def test_an_error_left_from_before_the_run_is_not_its_ending(tmp_path):
    out = run_script(tmp_path, AFTER_AN_EARLIER_ERROR)
    assert out.returncode == 0, out.stderr[-2000:]
    m = meta(out.stdout.split()[0])
    assert (m["status"], m["exit_code"]) == ("success", 0)

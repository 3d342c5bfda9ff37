"""A process forked while the run writer's thread is busy with its first write-out: the child's
own run ends. (Found by the mutation run of ``lifecycle.py``: when the writer thread imported
``rundir.records`` lazily on its first write-out, a fork inside that import handed the child a
half-imported module whose lock no thread would release, and the child's writer hung at exit; a
fork 0-20 ms after the first ``log()`` hit it in at least 10 of 36 tries.)"""

from ._scripts import lines, meta, run_script

FORK_AFTER_FIRST_LOG = """
    import os, sys, time, seetrain
    for delay in (0.0, 0.0005, 0.002, 0.005, 0.01, 0.02):
        parent = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
        parent.log({"x": 1})
        time.sleep(delay)
        pid = os.fork()
        if pid == 0:
            own = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
            own.log({"child_metric": 7})
            print(own.dir, flush=True)
            sys.exit(0)
        deadline = time.monotonic() + 30
        while not os.waitpid(pid, os.WNOHANG)[0]:
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                sys.exit(f"the child forked {delay} s after the first log did not end")
            time.sleep(0.01)
        parent.finish()
"""


def test_a_child_forked_during_the_first_write_out_ends_with_its_run(tmp_path):
    out = run_script(tmp_path, FORK_AFTER_FIRST_LOG, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    child_dirs = out.stdout.split()
    assert len(child_dirs) == 6
    for d in child_dirs:
        assert meta(d)["status"] == "success"
        assert [r["data"] for r in lines(d) if r["type"] == "metrics"] == [{"child_metric": 7}]

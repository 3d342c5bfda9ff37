"""A forked child never writes into, finishes or re-marks its parent's run, and never hangs at exit."""

from tests.core._scripts import assert_seqs_complete, lines, meta, run_script

FORK_POOL = """
    import multiprocessing as mp, os, sys, time, seetrain
    run = seetrain.init(project="p", logdir=sys.argv[1], flush_interval=30, system_metrics=False)
    print(run.dir, flush=True)

    def work(i):
        seetrain.log({"child": i})   # refused: the run belongs to the parent
        return i * i

    def leave(code):
        sys.exit(code)

    def hang():
        time.sleep(60)

    if __name__ == "__main__":
        ctx = mp.get_context("fork")
        for i in range(20000):
            run.log({"x": i})        # still queued when the children are forked (flush_interval=30)
        with ctx.Pool(2) as pool:
            assert pool.map(work, range(8)) == [i * i for i in range(8)]
        for code in (0, 3):           # children that exit through sys.exit
            p = ctx.Process(target=leave, args=(code,))
            p.start(); p.join(30)
            assert p.exitcode == code, p.exitcode
        p = ctx.Process(target=hang)  # a child that is terminated (SIGTERM)
        p.start(); time.sleep(0.5); p.terminate(); p.join(30)
        assert p.exitcode == -15, p.exitcode
        pool = ctx.Pool(2)            # a pool that is terminated
        pool.map(work, range(4)); pool.terminate(); pool.join()
        assert seetrain.read_run(run.dir).meta["status"] == "running"  # no child re-marked it
        for i in range(100):
            run.log({"y": i})
        run.finish()
        print("done", flush=True)
"""


def test_fork_pool_children_that_log_exit_or_are_terminated(tmp_path):
    out = run_script(tmp_path, FORK_POOL, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    run_dir, done = out.stdout.split()
    assert done == "done"
    recs = lines(run_dir)
    assert_seqs_complete(recs)  # the 20,000 queued records are on disk once, not once per child
    xs = [r["data"]["x"] for r in recs if r["type"] == "metrics" and "x" in r["data"]]
    assert xs == list(range(20000))
    assert not any("child" in r.get("data", {}) for r in recs)
    m = meta(run_dir)
    assert m["status"] == "success" and m["exit_code"] == 0
    finishes = [r for r in recs if r["type"] == "event" and r["event"] == "finish"]
    assert len(finishes) == 1 and finishes[0]["status"] == "success"
    # one clear warning per child that tried to log, saying what to do
    assert "was forked from pid" in out.stderr and "seetrain.init()" in out.stderr


OS_FORK = """
    import os, sys, seetrain
    run = seetrain.init(project="p", logdir=sys.argv[1], flush_interval=30, system_metrics=False)
    print(run.dir, flush=True)
    for i in range(5000):
        run.log({"x": i})
    pids = []
    for k in range(3):
        pid = os.fork()
        if pid == 0:                       # the worker: logs, then leaves through sys.exit (atexit runs)
            seetrain.log({"worker": k})
            run.config.update({"from_child": k})
            sys.exit(0)
        pids.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
    assert codes == [0, 0, 0], codes
    run.log({"x": 5000})
    run.finish()
    print("done", flush=True)
"""


def test_os_fork_workers_leave_the_parent_run_alone(tmp_path):
    out = run_script(tmp_path, OS_FORK, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    run_dir, done = out.stdout.split()
    recs = lines(run_dir)
    assert_seqs_complete(recs)
    assert [r["data"]["x"] for r in recs if r["type"] == "metrics"] == list(range(5001))
    assert [r for r in recs if r["type"] == "config"] == []
    assert sum(1 for r in recs if r.get("event") == "finish") == 1
    assert meta(run_dir)["status"] == "success"


CHILD_RUN = """
    import os, sys, seetrain
    parent = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
    parent.log({"x": 1})
    pid = os.fork()
    if pid == 0:
        own = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)  # its own run
        seetrain.log({"child_metric": 7})
        print(own.dir, flush=True)
        sys.exit(0)                        # the child's own run is finished at its exit
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    parent.finish()
    print(parent.dir, flush=True)
"""


def test_a_forked_child_can_start_its_own_run(tmp_path):
    out = run_script(tmp_path, CHILD_RUN, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    child_dir, parent_dir = out.stdout.split()
    assert meta(child_dir)["status"] == "success" and meta(parent_dir)["status"] == "success"
    assert [r["data"] for r in lines(child_dir) if r["type"] == "metrics"] == [{"child_metric": 7}]
    assert [r["data"] for r in lines(parent_dir) if r["type"] == "metrics"] == [{"x": 1}]


SPAWN = """
    import multiprocessing as mp, sys, seetrain

    def work(i):
        seetrain.log({"child": i})   # a spawned child has no run: one warning, nothing recorded
        return i

    if __name__ == "__main__":
        run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
        with mp.get_context("spawn").Pool(2) as pool:
            assert pool.map(work, range(4)) == list(range(4))
        run.log({"x": 1})
        run.finish()
        print(run.dir, flush=True)
"""


def test_spawned_children_have_no_run(tmp_path):
    out = run_script(tmp_path, SPAWN, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    run_dir = out.stdout.split()[0]
    assert [r["data"] for r in lines(run_dir) if r["type"] == "metrics"] == [{"x": 1}]
    assert meta(run_dir)["status"] == "success"
    assert "called before seetrain.init()" in out.stderr


BORN_WITH_DEFAULT_SIGTERM = """
    import os, signal, sys
    seen = []
    os.register_at_fork(after_in_child=lambda: seen.append(signal.getsignal(signal.SIGTERM)))  # runs first
    import seetrain
    run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
    ours = signal.getsignal(signal.SIGTERM)
    assert ours is not signal.SIG_DFL                      # SeeTrain records SIGTERM in this process
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        born = "default" if seen[0] is signal.SIG_DFL else repr(seen[0])
        own = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)   # its own run
        again = "ours" if signal.getsignal(signal.SIGTERM) is ours else "other"
        os.write(w, f"{born} {again}".encode())
        os._exit(0)
    os.close(w)
    print(os.read(r, 100).decode(), flush=True)
    os.waitpid(pid, 0)
    print("parent", "ours" if signal.getsignal(signal.SIGTERM) is ours else "lost", flush=True)
    run.finish()
"""


def test_a_forked_child_is_born_with_the_default_sigterm(tmp_path):
    """Python drops signals that reach a child before its interpreter is re-initialised; a child that
    inherited SeeTrain's handler and was terminated at once (Pool.terminate right after the Pool
    started) hung. The child is born with the default disposition, as without SeeTrain; a run it
    starts itself gets the handler; the parent keeps it."""
    out = run_script(tmp_path, BORN_WITH_DEFAULT_SIGTERM, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["default", "ours", "parent", "ours"], out.stdout

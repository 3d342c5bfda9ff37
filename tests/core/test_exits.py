"""Every way a program ends is recorded truthfully, and ends exactly as it would without SeeTrain."""

import os
import signal
import subprocess
import textwrap
import time

import pytest

from tests.core._scripts import lines, meta, run_script
from tests._child import popen_python

HEAD = """
    import os, sys, time, seetrain
    run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
    run.log({"loss": 1.0})
    print(run.dir, flush=True)
"""


@pytest.mark.parametrize("ending, code, status, exit_code", [
    ("sys.exit(3)", 3, "failed", 3),
    ("sys.exit('fatal')", 1, "failed", 1),
    ("sys.exit(0)", 0, "success", 0),
    ("pass", 0, "success", 0),
    ("exit(3)", 3, "failed", 3),          # the site builtins a script may call instead of sys.exit
    ("quit('bye')", 1, "failed", 1),
])
def test_sys_exit_codes(tmp_path, ending, code, status, exit_code):
    out = run_script(tmp_path, HEAD + "    " + ending + "\n")
    assert out.returncode == code, out.stderr
    m = meta(out.stdout.split()[0])
    assert (m["status"], m["exit_code"]) == (status, exit_code)
    fin = [r for r in lines(out.stdout.split()[0]) if r.get("event") == "finish"]
    assert fin == [dict(fin[0], status=status, exit_code=exit_code)]


def test_exception_after_the_user_replaced_excepthook(tmp_path):
    out = run_script(tmp_path, HEAD + """
    def hook(t, v, tb):
        print("user hook:", t.__name__, flush=True)
    sys.excepthook = hook
    def train():
        raise ValueError("loss went NaN")
    train()
    """)
    assert out.returncode == 1
    run_dir, *rest = out.stdout.split("\n")
    assert "user hook: ValueError" in rest  # the user's hook still runs, and alone prints
    m = meta(run_dir)
    assert m["status"] == "crashed" and m["exit_code"] == 1
    assert m["error"]["type"] == "ValueError" and m["error"]["message"] == "loss went NaN"
    assert "in train" in m["error"]["traceback"]
    exc = [r for r in lines(run_dir) if r.get("event") == "exception"]
    assert exc[0]["exc_type"] == "ValueError" and "in train" in exc[0]["traceback"]


def test_exception_inside_with_and_sys_exit_inside_with(tmp_path):
    out = run_script(tmp_path, """
    import sys, seetrain
    try:
        with seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False) as a:
            raise KeyError("k")
    except KeyError:
        pass
    print(a.dir)
    with seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False) as b:
        print(b.dir, flush=True)
        sys.exit(4)
    """)
    assert out.returncode == 4
    a, b = out.stdout.split()
    assert meta(a)["status"] == "crashed" and meta(a)["error"]["type"] == "KeyError"
    assert (meta(b)["status"], meta(b)["exit_code"]) == ("failed", 4)


LOOP = """
    import sys, time, seetrain
    run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
    print(run.dir, flush=True)
    def train():
        for i in range(10**9):
            run.log({"i": i}); time.sleep(0.001)
    if sys.argv[2] == "with":
        with run:
            train()
    else:
        train()
"""


@pytest.mark.parametrize("path", ["plain", "with"])
def test_ctrl_c_is_killed_in_every_path(tmp_path, path):
    script = tmp_path / "loop.py"
    script.write_text(textwrap.dedent(LOOP))
    proc = popen_python([str(script), str(tmp_path / "logs"), path], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)
    try:
        run_dir = proc.stdout.readline().strip()
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        proc.kill()  # a no-op once it ended; a child that ignored SIGINT must not loop on
    assert proc.returncode == -signal.SIGINT  # Python's own ending for an uncaught Ctrl-C
    m = meta(run_dir)
    assert (m["status"], m["exit_code"]) == ("killed", 130)


def test_sigterm_with_the_default_disposition_still_kills(tmp_path):
    script = tmp_path / "term.py"
    script.write_text("import sys, time, seetrain\nrun = seetrain.init(project='p', logdir=sys.argv[1], "
                      "flush_interval=30)\n[run.log({'i': i}) for i in range(500)]\nprint(run.dir, flush=True)\n"
                      "time.sleep(30)\n")
    proc = popen_python([str(script), str(tmp_path / "logs")], stdout=subprocess.PIPE, text=True)
    run_dir = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == -signal.SIGTERM
    m = meta(run_dir)
    assert (m["status"], m["exit_code"]) == ("killed", 143)
    assert [r["data"]["i"] for r in lines(run_dir) if r["type"] == "metrics"] == list(range(500))


LIGHTNING = """
    import os, signal, sys
    import torch, lightning as L
    use_seetrain = sys.argv[2] == "yes"
    if use_seetrain:
        import seetrain
        run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
        print(run.dir, flush=True)

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)
        def training_step(self, batch, i):
            if i == 3:
                os.kill(os.getpid(), signal.SIGTERM)   # the scheduler asks the job to stop
            return self.layer(batch[0]).pow(2).mean()
        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    class Seen(L.Callback):
        def on_exception(self, trainer, module, exc):
            print("on_exception", type(exc).__name__, flush=True)

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(64, 4)), batch_size=4)
    trainer = L.Trainer(max_epochs=1, callbacks=[Seen()], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(Tiny(), data)
    print("after fit", flush=True)
"""


def test_lightning_fit_receiving_sigterm_behaves_as_without_seetrain(tmp_path):
    pytest.importorskip("lightning")
    from concurrent.futures import ThreadPoolExecutor

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with ThreadPoolExecutor(2) as pool:  # the two fits run side by side
        runs = [pool.submit(run_script, tmp_path / d, LIGHTNING, arg, timeout=300) for d, arg in (("a", "no"),
                                                                                                 ("b", "yes"))]
        without, with_st = (f.result() for f in runs)
    assert without.returncode == 0 and "on_exception SIGTERMException" in without.stdout, without.stderr[-2000:]
    assert with_st.returncode == without.returncode, with_st.stderr[-2000:]
    assert "on_exception SIGTERMException" in with_st.stdout
    assert ("after fit" in with_st.stdout) == ("after fit" in without.stdout)
    m = meta(with_st.stdout.split()[0])
    assert m["status"] == "killed"  # recorded truthfully; the program ended as Lightning made it

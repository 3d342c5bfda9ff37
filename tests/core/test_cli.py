"""The seetrain command: ls, show, export."""

import csv
import io
import json
import subprocess
import sys

import seetrain


def _cli(*args):
    out = subprocess.run([sys.executable, "-m", "seetrain.cli", *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _make_runs(logdir):
    a = seetrain.init(project="vision", experiment_name="resnet", config={"lr": 0.1}, logdir=logdir, system_metrics=False)
    for i in range(4):
        a.log({"loss": 1.0 / (i + 1), "acc": 0.5 + i / 10})
    a.finish()
    b = seetrain.init(project="nlp", experiment_name="gpt", logdir=logdir, system_metrics=False)
    b.log({"loss": 2.0})
    b.finish("failed")
    return a, b


def test_ls_show_export(tmp_path):
    logdir = str(tmp_path / "logs")
    a, b = _make_runs(logdir)
    table = _cli("ls", logdir)
    header, rule, *rows = table.strip().splitlines()
    assert header.split()[:6] == ["PROJECT", "NAME", "ID", "STATUS", "STEPS", "DURATION"]
    assert rows[0].split()[:5] == ["vision", "resnet", a.id, "success", "4"]
    assert rows[1].split()[:5] == ["nlp", "gpt", b.id, "failed", "1"]
    assert "loss=0.25" in rows[0]
    shown = _cli("show", a.id, "--logdir", logdir)
    assert "lr: 0.1" in shown and "loss: 0.25" in shown and "status    success" in shown
    rows = list(csv.DictReader(io.StringIO(_cli("export", a.dir, "--format", "csv"))))
    assert [float(r["loss"]) for r in rows] == [1.0, 0.5, 1 / 3, 0.25] and rows[2]["step"] == "2"
    lines = _cli("export", "resnet", "--logdir", logdir, "--format", "jsonl").splitlines()
    assert [json.loads(x).get("data", {}).get("acc") for x in lines if "data" in json.loads(x)] == [0.5, 0.6, 0.7, 0.8]


def test_unknown_run_is_explained(tmp_path):
    out = subprocess.run([sys.executable, "-m", "seetrain.cli", "show", "nope", "--logdir", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "no run 'nope'" in out.stderr and "seetrain ls" in out.stderr

"""The seetrain command: ls, show, export."""

import csv
import io
import json
import os
import subprocess
import time

import seetrain
from tests._child import popen_python, run_python


def _cli(*args):
    out = run_python(["-m", "seetrain.cli", *args], capture_output=True, text=True, timeout=60)
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
    out = run_python(["-m", "seetrain.cli", "show", "nope", "--logdir", str(tmp_path)],
                     capture_output=True, text=True)
    assert out.returncode != 0 and "no run 'nope'" in out.stderr and "seetrain ls" in out.stderr


def _hand_run(logdir, project, rid, name, summary=None, last_step=None, records=(), start=1764079200.0, **meta):
    """A format-2 run directory written as docs/record-format.md says (no SeeTrain process needed)."""
    d = os.path.join(logdir, project, rid)
    os.makedirs(d)
    m = {"format": 2, "uuid": rid.ljust(32, "0"), "id": rid, "name": name, "project": project,
         "status": "success", "start_time": start, "end_time": start + 65, "summary": summary or {},
         "last_step": last_step}
    m.update(meta)
    with open(os.path.join(d, "run.json"), "w") as f:
        json.dump(m, f)
    with open(os.path.join(d, "records.jsonl"), "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    return d


def test_ls_reads_run_json_summaries_not_records(tmp_path):
    """A live run's summary and last step are kept current in run.json; ls shows them from there."""
    logdir = str(tmp_path)
    _hand_run(logdir, "p", "r1", "long", summary={"loss": 0.125, "sys/cpu_percent": 3.0}, last_step=999_999,
              status="running", heartbeat=time.time())
    header, rule, row = _cli("ls", logdir).strip().splitlines()
    assert row.split()[:5] == ["p", "long", "r1", "running", "1000000"]
    assert "loss=0.125" in row and "sys/" not in row


def test_closed_pipe_ends_quietly(tmp_path):
    logdir = str(tmp_path)
    for i in range(1500):  # more than a pipe buffer of table
        _hand_run(logdir, "proj", f"run{i:04d}", f"name{i}", summary={"loss": i / 7}, last_step=i)
    _hand_run(logdir, "proj", "big", "big", records=[
        {"seq": i, "time": 1.0 + i, "type": "metrics", "step": i, "data": {"loss": i / 3}} for i in range(20000)])
    for args in (["ls", logdir], ["export", "big", "--logdir", logdir], ["export", "big", "--logdir", logdir,
                                                                         "--format", "jsonl"]):
        proc = popen_python(["-m", "seetrain.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
        assert proc.stdout.readline()  # like `head -1`
        proc.stdout.close()
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) in (0, 141) and err == "", (args, err)


def test_show_asks_for_the_id_when_names_are_shared(tmp_path):
    logdir = str(tmp_path)
    _hand_run(logdir, "a", "20261201-1", "baseline", summary={"loss": 1.0})
    _hand_run(logdir, "b", "20261201-2", "baseline", summary={"loss": 2.0}, start=1764079300.0)
    out = run_python(["-m", "seetrain.cli", "show", "baseline", "--logdir", logdir],
                     capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and out.stdout == ""
    assert "2 runs match 'baseline'" in out.stderr and "give the id" in out.stderr
    assert "20261201-1" in out.stderr and "20261201-2" in out.stderr
    shown = _cli("show", "20261201-2", "--logdir", logdir)
    assert "loss: 2" in shown and "b/baseline" in shown


def test_export_csv_keeps_step_and_time_apart_from_metrics_of_those_names(tmp_path):
    recs = [{"seq": i, "time": 100.0 + i, "type": "metrics", "step": i,
             "data": {"step": 1000 + i, "time": 0.5 * i, "loss": 1.0 / (i + 1)}} for i in range(3)]
    _hand_run(str(tmp_path), "p", "r", "clash", records=recs)
    rows = list(csv.DictReader(io.StringIO(_cli("export", "r", "--logdir", str(tmp_path)))))
    assert list(rows[0]) == ["step", "time", "loss", "metric:step", "metric:time"]
    assert [r["step"] for r in rows] == ["0", "1", "2"] and [r["time"] for r in rows] == ["100.0", "101.0", "102.0"]
    assert [r["metric:step"] for r in rows] == ["1000", "1001", "1002"]
    assert [float(r["metric:time"]) for r in rows] == [0.0, 0.5, 1.0]

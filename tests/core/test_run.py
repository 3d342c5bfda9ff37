"""init / log / finish through the public API, read back as a user would."""

import json
import math
import os
import threading

import pytest

import seetrain


def test_log_finish_and_read_back(logdir):
    run = seetrain.init(project="demo", experiment_name="first", description="d", tags=["a", "b"],
                        config={"lr": 0.01, "model": {"depth": 2}})
    for i in range(5):
        seetrain.log({"loss": 1.0 / (i + 1), "acc": i / 10, "eval": {"f1": i * 0.1}})
    seetrain.log({"late": 3}, step=10)
    seetrain.finish()
    assert run.dir == os.path.join(logdir, "demo", run.id)
    r = seetrain.read_run(run.dir)
    assert (r.id, r.name, r.project, r.status) == (run.id, "first", "demo", "success")
    assert r.config == {"lr": 0.01, "model": {"depth": 2}}
    assert r.keys() == ["acc", "eval/f1", "late", "loss"]
    s = r.scalars("loss")
    assert s.steps == [0, 1, 2, 3, 4]
    assert s.values == pytest.approx([1, 0.5, 1 / 3, 0.25, 0.2])
    assert len(s.times) == 5 and s.times == sorted(s.times)
    assert r.scalars("late").steps == [10]
    assert r.summary()["loss"] == pytest.approx(0.2)
    meta = json.load(open(os.path.join(run.dir, "run.json")))
    for field in ("id", "name", "project", "description", "tags", "status", "start_time", "end_time",
                  "host", "python", "command", "packages"):
        assert field in meta, field
    assert meta["tags"] == ["a", "b"] and meta["end_time"] >= meta["start_time"]
    assert "seetrain" in meta["packages"] or "orjson" in meta["packages"]


def test_records_are_json_lines_with_seqs_contiguous_and_complete(logdir):
    run = seetrain.init(project="p", system_metrics=False, config={"lr": 1})
    for i in range(50):
        run.log({"x": i})
    run.config.update({"lr": 2})
    run.finish()
    lines = open(os.path.join(run.dir, "records.jsonl"), "rb").read().splitlines()
    recs = [json.loads(line) for line in lines]
    # every record (start event, config, metrics, config change, finish event) has the next seq
    assert [r["seq"] for r in recs] == list(range(len(recs))) and len(recs) == 50 + 4
    assert [r["type"] for r in recs] == ["event", "config"] + ["metrics"] * 50 + ["config", "event"]
    assert [r["data"]["x"] for r in recs if r["type"] == "metrics"] == list(range(50))


def test_pandas_reads_records(logdir):
    pd = pytest.importorskip("pandas")
    run = seetrain.init(project="p", system_metrics=False)
    for i in range(3):
        run.log({"loss": float(i)})
    run.finish()
    df = pd.read_json(os.path.join(run.dir, "records.jsonl"), lines=True)
    rows = pd.json_normalize(df[df["type"] == "metrics"].to_dict("records"))
    assert list(rows["data.loss"]) == [0.0, 1.0, 2.0]


def test_nan_and_inf_survive(logdir):
    run = seetrain.init(project="p", system_metrics=False)
    run.log({"a": float("nan"), "b": float("inf"), "c": -math.inf, "d": 1.5})
    run.finish()
    v = seetrain.read_run(run.dir).summary()
    assert math.isnan(v["a"]) and v["b"] == math.inf and v["c"] == -math.inf and v["d"] == 1.5


def test_numpy_and_torch_scalars(logdir):
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    run = seetrain.init(project="p", system_metrics=False)
    run.log({"np_f": np.float32(0.5), "np_i": np.int64(3), "np_b": np.bool_(True), "np_0d": np.array(2.5),
             "t_0d": torch.tensor(1.25), "t_1": torch.tensor([4.0]), "flag": True})
    run.finish()
    v = seetrain.read_run(run.dir).summary()
    assert v == {"np_f": 0.5, "np_i": 3, "np_b": 1, "np_0d": 2.5, "t_0d": 1.25, "t_1": 4.0, "flag": 1}


def test_config_changes_after_init_are_recorded(logdir):
    run = seetrain.init(project="p", config={"lr": 0.1}, system_metrics=False)
    seetrain.config.batch_size = 32
    seetrain.config["epochs"] = 3
    run.config.update({"lr": 0.2})
    assert seetrain.config.lr == 0.2 and run.config.to_dict() == {"lr": 0.2, "batch_size": 32, "epochs": 3}
    run.finish()
    r = seetrain.read_run(run.dir)
    assert r.config == {"lr": 0.2, "batch_size": 32, "epochs": 3}
    lines = [json.loads(x) for x in open(os.path.join(run.dir, "records.jsonl"))]
    assert [x["config"] for x in lines if "config" in x] == [{"lr": 0.1}, {"batch_size": 32}, {"epochs": 3}, {"lr": 0.2}]


def test_config_set_before_init_goes_into_the_next_run(logdir):
    seetrain.config.update({"seed": 7})
    run = seetrain.init(project="p", config={"lr": 1}, system_metrics=False)
    run.finish()
    assert seetrain.read_run(run.dir).config == {"seed": 7, "lr": 1}


def test_config_accepts_namespace_and_omegaconf(logdir):
    import argparse

    omegaconf = pytest.importorskip("omegaconf")
    ns = argparse.Namespace(lr=0.1, layers=[1, 2])
    run = seetrain.init(project="p", config=ns, system_metrics=False)
    run.config.update(omegaconf.OmegaConf.create({"opt": {"name": "adam", "beta": "${opt.name}"}}))
    run.finish()
    assert seetrain.read_run(run.dir).config == {"lr": 0.1, "layers": [1, 2], "opt": {"name": "adam", "beta": "adam"}}


def test_disabled_mode_writes_nothing(logdir):
    run = seetrain.init(project="p", mode="disabled")
    run.log({"x": 1})
    run.config.a = 1
    seetrain.log({"y": 2})
    run.finish()
    assert not os.path.exists(logdir)


def test_context_manager_marks_crash(logdir):
    with pytest.raises(RuntimeError):
        with seetrain.init(project="p", system_metrics=False) as run:
            run.log({"x": 1})
            raise RuntimeError("boom")
    assert seetrain.read_run(run.dir).status == "crashed"
    with seetrain.init(project="p", system_metrics=False) as ok:
        ok.log({"x": 1})
    assert seetrain.read_run(ok.dir).status == "success"


def test_explicit_steps_and_auto_steps_interleave(logdir):
    run = seetrain.init(project="p", system_metrics=False)
    run.log({"a": 1})            # 0
    run.log({"a": 2}, step=5)    # 5
    run.log({"b": 1}, step=5)    # same step again is fine
    run.log({"a": 3})            # 6
    run.finish()
    r = seetrain.read_run(run.dir)
    assert r.scalars("a").steps == [0, 5, 6] and r.scalars("b").steps == [5]


def test_resume_continues_the_same_run(logdir):
    first = seetrain.init(project="p", id="resume-me", config={"lr": 1}, system_metrics=False)
    first.log({"loss": 1.0})
    first.log({"loss": 0.5})
    first.finish()
    with pytest.raises(ValueError, match="already exists"):
        seetrain.init(project="p", id="resume-me")
    again = seetrain.init(project="p", id="resume-me", resume=True, system_metrics=False)
    assert again.config.to_dict() == {"lr": 1}
    again.log({"loss": 0.25})
    again.finish()
    r = seetrain.read_run(again.dir)
    assert r.scalars("loss").steps == [0, 1, 2]
    seqs = [rec["seq"] for rec in r.records()]
    assert len(seqs) == len(set(seqs))
    with pytest.raises(ValueError, match="must"):
        seetrain.init(project="p", id="nope", resume="must")


def test_several_runs_open_at_once(logdir):
    a = seetrain.init(project="p", experiment_name="a", system_metrics=False)
    b = seetrain.init(project="p", experiment_name="b", system_metrics=False)
    seetrain.log({"x": 1})  # goes to the latest run
    a.log({"y": 2})
    b.finish()
    seetrain.log({"z": 3})  # b is finished: a is current again
    a.finish()
    assert seetrain.read_run(b.dir).keys() == ["x"]
    assert seetrain.read_run(a.dir).keys() == ["y", "z"]
    assert [r.name for r in seetrain.list_runs(logdir)] == ["a", "b"]


def test_threads_logging_concurrently_lose_nothing(logdir):
    run = seetrain.init(project="p", system_metrics=False, max_queue=1000)
    n_threads, n = 4, 2000

    def work(t):
        for i in range(n):
            run.log({f"t{t}": i})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    run.finish()
    r = seetrain.read_run(run.dir)
    seqs = [rec["seq"] for rec in r.records()]
    assert sorted(seqs) == list(range(len(seqs)))  # no seq lost or duplicated
    for t in range(n_threads):
        assert r.scalars(f"t{t}").values == list(range(n))
    steps = [rec["step"] for rec in r.iter_data()]
    assert len(set(steps)) == n_threads * n


def test_backpressure_waits_instead_of_dropping(logdir):
    run = seetrain.init(project="p", system_metrics=False, max_queue=64, flush_interval=5.0)
    with pytest.warns(seetrain.SeeTrainWarning, match="waits for the writer"):
        for i in range(2000):
            run.log({"i": i})
    run.finish()
    assert seetrain.read_run(run.dir).scalars("i").values == list(range(2000))


def test_system_metrics_are_sampled_with_their_own_time_and_no_user_step(logdir):
    run = seetrain.init(project="p", system_interval=0.2)
    import time

    run.log({"loss": 1.0}, step=1000)
    time.sleep(1.0)
    run.finish()
    recs = [json.loads(x) for x in open(os.path.join(run.dir, "records.jsonl"))]
    system = [r for r in recs if r["type"] == "system"]
    assert system, "no system record"
    for k in ("sys/cpu_percent", "sys/proc_rss_mb", "sys/mem_percent"):
        assert k in system[-1]["data"]
    assert system[-1]["data"]["sys/proc_rss_mb"] > 1
    assert all("step" not in r for r in system)  # never a borrowed user step
    times = [r["time"] for r in system]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_logdir_env_and_argument(tmp_path, monkeypatch):
    monkeypatch.setenv("SEETRAIN_LOGDIR", str(tmp_path / "env"))
    a = seetrain.init(project="p", system_metrics=False)
    a.finish()
    b = seetrain.init(project="p", logdir=str(tmp_path / "arg"), system_metrics=False)
    b.finish()
    assert a.dir.startswith(str(tmp_path / "env")) and b.dir.startswith(str(tmp_path / "arg"))


def test_flush_makes_records_visible_to_a_reader(logdir):
    run = seetrain.init(project="p", system_metrics=False, flush_interval=60)
    for i in range(100):
        run.log({"x": i})
    run.flush()
    assert seetrain.read_run(run.dir).scalars("x").values == list(range(100))
    assert seetrain.read_run(run.dir).status == "running"
    run.finish()

"""TensorBoard bridge with the real torch.utils.tensorboard and tensorboardX writers.

The original is what TensorBoard itself reads back from the event files (its EventAccumulator);
the mirrored run and the imported run must both equal it, value for value.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("tensorboard")
tbx = pytest.importorskip("tensorboardX")
torch = pytest.importorskip("torch")
from PIL import Image as PILImage  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

import seetrain  # noqa: E402
from seetrain.cli import main as cli_main  # noqa: E402
from seetrain.integration.bridges import tensorboard as tb_bridge  # noqa: E402


def _accumulator(path):
    acc = EventAccumulator(path, size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def _assert_same_as_tensorboard(run, event_dir):
    """Every scalar, histogram, image and text in ``event_dir`` is in ``run`` with the same steps and values."""
    acc = _accumulator(event_dir)
    tags = acc.Tags()
    assert tags["scalars"], "the writer wrote no scalars"
    for tag in tags["scalars"]:
        events = acc.Scalars(tag)
        series = run.scalars(tag)
        assert series.steps == [e.step for e in events], tag
        assert series.values == [e.value for e in events], tag
    for tag in tags["histograms"]:
        events = acc.Histograms(tag)
        got = run.media(tag)
        assert [g["step"] for g in got] == [e.step for e in events]
        for g, e in zip(got, events):
            h = e.histogram_value
            assert h.bucket[0] == 0 and h.bucket_limit[0] <= h.min  # torch/tensorboardX: the left edge, not a bin
            assert g["counts"] == list(h.bucket)[1:]
            assert g["bins"] == list(h.bucket_limit)
            assert sum(g["counts"]) == h.num
    for tag in tags["images"]:
        events = acc.Images(tag)
        got = run.media(tag)
        assert [g["step"] for g in got] == [e.step for e in events]
        for g, e in zip(got, events):
            import io

            want = np.asarray(PILImage.open(io.BytesIO(e.encoded_image_string)))
            assert np.array_equal(np.asarray(PILImage.open(g["path"])), want)
            assert (g["width"], g["height"]) == (e.width, e.height)
    texts = [t for t in tags["tensors"] if t.endswith("/text_summary")]
    for tag in texts:
        events = acc.Tensors(tag)
        key = tag[: -len("/text_summary")]
        got = run.media(key)
        assert [g["step"] for g in got] == [e.step for e in events]
        for g, e in zip(got, events):
            with open(g["path"], encoding="utf-8") as f:
                assert f.read() == e.tensor_proto.string_val[0].decode()
    return tags


def _write_torch(path):
    rng = np.random.default_rng(0)
    writer = SummaryWriter(str(path))
    for step in range(5):
        writer.add_scalar("train/loss", 1.0 / 3.0 + step, step)  # float64 in; TensorBoard keeps float32
        writer.add_scalar("lr", np.float32(0.1) * step, step)
        writer.add_histogram("weights", rng.normal(size=200), step)
    writer.add_scalars("pair", {"a": 1.5, "b": 2.5}, 3)
    writer.add_image("sample", torch.rand(3, 8, 6), 4)
    writer.add_text("notes", "learning rate warm-up ok", 4)
    writer.add_scalar("no_step", 7.0)
    writer.close()


def _write_tbx(path):
    writer = tbx.SummaryWriter(str(path))
    for step in range(4):
        writer.add_scalar("acc", step / 7.0, step * 10)
    writer.add_histogram("h", np.arange(50.0), 30)
    writer.add_image("grid", np.full((4, 5, 3), 0.25), 30, dataformats="HWC")
    writer.add_text("t", "tensorboardX text", 30)
    writer.close()


def test_mirror_torch_and_tensorboardx_writers_value_for_value(logdir, tmp_path):
    sync = seetrain.sync_tensorboard(project="tb")
    try:
        _write_torch(tmp_path / "tb" / "exp1")
        _write_tbx(tmp_path / "tb" / "exp2")
    finally:
        sync.finish()
    runs = {r.name: r for r in seetrain.list_runs(logdir, project="tb")}
    assert set(runs) == {"exp1", "exp1/pair_a", "exp1/pair_b", "exp2"}  # as TensorBoard lists the runs
    for name, r in runs.items():
        assert r.status == "success"
        assert r.config["_framework"] == "tensorboard"
        _assert_same_as_tensorboard(r, str(tmp_path / "tb" / name))
    assert runs["exp1"].scalars("no_step").steps == [0]
    assert runs["exp1"].scalars("train/loss").values[0] == pytest.approx(1 / 3, rel=1e-6)
    assert runs["exp1/pair_a"].scalars("pair").values == [1.5]
    assert len(runs["exp1"].media("weights")) == 5 and len(runs["exp2"].media("grid")) == 1


def test_disable_restores_the_writer_classes(logdir, tmp_path):
    from torch.utils.tensorboard import writer as torch_writer
    from tensorboardX import writer as tbx_writer

    originals = [(cls, cls.__dict__["add_event"], cls.__dict__["close"])
                 for cls in (torch_writer.FileWriter, tbx_writer.FileWriter)]
    sync = seetrain.sync_tensorboard(project="tb-off")
    assert torch_writer.FileWriter.__dict__["add_event"] is not originals[0][1]
    sync.disable()
    for cls, add_event, close in originals:
        assert cls.__dict__["add_event"] is add_event and cls.__dict__["close"] is close
    writer = SummaryWriter(str(tmp_path / "after"))
    writer.add_scalar("x", 1.0, 0)
    writer.close()
    assert seetrain.list_runs(logdir, project="tb-off") == []


def test_writer_errors_reach_the_user_and_bridge_errors_do_not(logdir, tmp_path, monkeypatch, shielded):
    sync = seetrain.sync_tensorboard(project="tb-err")
    try:
        writer = SummaryWriter(str(tmp_path / "e"))
        with pytest.raises(Exception):
            writer.add_histogram("bad", "not numbers", 0)  # TensorBoard's own error, unchanged
        monkeypatch.setattr(tb_bridge, "summary_values", lambda summary: 1 / 0)
        with pytest.warns(seetrain.SeeTrainWarning, match="tensorboard bridge"):
            writer.add_scalar("y", 2.0, 1)  # the bridge fails; the user's call does not
        writer.close()
    finally:
        sync.finish()
    assert _accumulator(str(tmp_path / "e")).Scalars("y")[0].value == 2.0


def test_import_logdir_equals_tensorboard_and_the_mirror(logdir, tmp_path):
    src = tmp_path / "tb"
    _write_torch(src / "exp1")
    _write_tbx(src / "nested" / "exp2")
    target = str(tmp_path / "imported")
    assert cli_main(["import", "tensorboard", str(src), "--project", "imp", "--logdir", target]) == 0
    runs = {r.name: r for r in seetrain.list_runs(target, project="imp")}
    assert set(runs) == {"exp1", "exp1/pair_a", "exp1/pair_b", "nested/exp2"}
    for name, r in runs.items():
        assert r.status == "success" and r.config["imported"] is True
        _assert_same_as_tensorboard(r, os.path.join(src, name))
    # importing again does not duplicate runs
    assert cli_main(["import", "tensorboard", str(src), "--project", "imp", "--logdir", target]) == 0
    assert len(seetrain.list_runs(target, project="imp")) == 4


def test_import_bad_logdir_is_one_clear_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["import", "tensorboard", str(tmp_path / "missing")])
    assert "is not a directory" in str(exc.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exc:
        cli_main(["import", "tensorboard", str(tmp_path / "empty")])
    assert "no TensorBoard event files" in str(exc.value)


def test_a_writer_used_after_close_continues_its_run(logdir, tmp_path):
    sync = seetrain.sync_tensorboard(project="tb-reopen", frameworks=("torch",))
    try:
        writer = SummaryWriter(str(tmp_path / "r"))
        writer.add_scalar("v", 1.0, 0)
        writer.close()
        writer.add_scalar("v", 2.0, 1)  # torch reopens a FileWriter in the same folder
        writer.close()
    finally:
        sync.finish()
    (r,) = seetrain.list_runs(logdir, project="tb-reopen")
    assert r.status == "success" and r.scalars("v").steps == [0, 1]
    _assert_same_as_tensorboard(r, str(tmp_path / "r"))

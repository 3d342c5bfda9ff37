"""VisualDL bridge: live mirror of ``visualdl.LogWriter`` (also through ``paddle.callbacks.VisualDL``)
and import of VisualDL log files, read back value for value."""

from __future__ import annotations

import numpy as np
import pytest

import seetrain

visualdl = pytest.importorskip("visualdl")

from seetrain.integration.bridges.visualdl import import_logdir, sync_visualdl  # noqa: E402

VALUES = [0.1, 1 / 3, 2.5e-7, 123456.789]


def _stored_scalars(run_dir):
    """{tag: [(step, value)]} of a VisualDL folder, read with VisualDL's own ``LogReader`` (not SeeTrain's)."""
    import os

    out = {}
    for name in sorted(f for f in os.listdir(run_dir) if f.startswith("vdlrecords.")):
        reader = visualdl.LogReader(file_path=os.path.join(str(run_dir), name))
        for tag in reader.get_tags().get("scalar", []):
            out.setdefault(tag, []).extend((int(r.id), float(r.value)) for r in reader.get_data("scalar", tag))
    return out


def test_mirror_and_import_read_back_what_visualdl_stored(logdir, tmp_path):
    vdl_dir = tmp_path / "vdl" / "exp1"
    sync = sync_visualdl(project="vdl")
    try:
        w = visualdl.LogWriter(logdir=str(vdl_dir))
        for i, v in enumerate(VALUES):
            w.add_scalar("train/loss", v, i * 5)
        w.add_text("notes", "hello paddle", 3)
        w.close()
    finally:
        sync.disable()
    assert visualdl.LogWriter.add_scalar.__name__ == "add_scalar" and not hasattr(visualdl.LogWriter.add_scalar,
                                                                                  "__seetrain_bridge__")
    stored = _stored_scalars(vdl_dir)                          # what VisualDL itself reads from its file
    assert stored == {"train/loss": [(i * 5, float(np.float32(v))) for i, v in enumerate(VALUES)]}
    (live,) = seetrain.list_runs(logdir, project="vdl")
    assert live.status == "success" and live.name == "exp1"
    loss = live.scalars("train/loss")
    assert loss.steps == [0, 5, 10, 15]
    assert list(zip(loss.steps, loss.values)) == stored["train/loss"]
    out = import_logdir(str(tmp_path / "vdl"), project="imported", seetrain_logdir=logdir)
    assert len(out) == 1
    (imp,) = seetrain.list_runs(logdir, project="imported")
    assert imp.scalars("train/loss").values == loss.values and imp.scalars("train/loss").steps == loss.steps
    assert imp.config["imported"] is True and imp.name == "exp1"


def test_paddle_visualdl_callback_is_mirrored(logdir, tmp_path):
    paddle = pytest.importorskip("paddle")
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    ds = paddle.io.TensorDataset([paddle.to_tensor((x[:400] / 16).astype("float32")),
                                  paddle.to_tensor(y[:400].astype("int64").reshape(-1, 1))])
    net = paddle.nn.Sequential(paddle.nn.Linear(64, 10))
    model = paddle.Model(net)
    model.prepare(paddle.optimizer.Adam(parameters=net.parameters()), paddle.nn.CrossEntropyLoss())
    sync = sync_visualdl(project="vdl-cb")
    try:
        model.fit(ds, epochs=1, batch_size=100, verbose=0,
                  callbacks=[paddle.callbacks.VisualDL(log_dir=str(tmp_path / "cb"))])
    finally:
        sync.finish()
    (r,) = seetrain.list_runs(logdir, project="vdl-cb")
    stored = _stored_scalars(tmp_path / "cb")
    keys = [k for k in stored if "loss" in k]
    assert keys
    for key in keys:
        assert list(zip(r.scalars(key).steps, r.scalars(key).values)) == stored[key], key


def test_import_of_a_folder_without_logs_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no VisualDL log files"):
        import_logdir(str(tmp_path))

"""Errors that used to mislead or come late: a cached file with another MD5 (named, with both sums),
the pretrained-weights download (no data.* advice), folders that cannot be written or are missing
(one line, before any framework is imported, no run left behind), and the real backend names."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

pytest.importorskip("lightning")

import seetrain  # noqa: E402
from seetrain.train.commands import train_main  # noqa: E402

from .conftest import FAST, mirror_args  # noqa: E402
from tests._child import run_python  # noqa: E402

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there


def test_a_cached_file_with_another_md5_is_named_with_both_sums(data_server, tmp_path, logdir, capsys):
    cache = tmp_path / "cache"
    args = mirror_args(data_server, "mnist", str(cache))
    folder = cache / "mnist"
    folder.mkdir(parents=True)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"an older copy")
    args = [a if not a.startswith("data.mirror=") else f"data.mirror={UNREACHABLE}" for a in args]
    assert train_main(FAST + args) == 2
    err = capsys.readouterr().err
    expected = data_server[1]["mnist"]["train-images-idx3-ubyte.gz"]
    import hashlib

    found = hashlib.md5(b"an older copy").hexdigest()
    assert f"train-images-idx3-ubyte.gz in {folder}" in err and f"has MD5 {found} but {expected} is expected" in err, err
    assert len(err.strip().splitlines()) == 1 and not seetrain.list_runs(logdir)


def test_the_pretrained_weights_error_points_at_model_pretrained(capsys, logdir, tmp_path, monkeypatch):
    monkeypatch.setenv("SEETRAIN_DATA_DIR", str(tmp_path / "cache"))
    assert train_main(FAST + ["model.width=8", f"model.pretrained={UNREACHABLE}/w.pth"]) == 2
    err = capsys.readouterr().err
    assert "could not download" in err and "model.pretrained=PATH" in err, err
    assert "data." not in err and "SEETRAIN_DATA_DIR" not in err, err


# `seetrain train` in a child: its exit code, its message, and which frameworks it had imported by then
CHILD = """
import json, sys
from seetrain.train.commands import train_main
rc = train_main(sys.argv[1:])
print(json.dumps({"rc": rc, "heavy": sorted(m for m in ("torch", "lightning", "paddle", "sklearn") if m in sys.modules)}))
"""


def _path_cases(tmp):
    a_file = os.path.join(tmp, "a-file")
    return {
        "logdir": ([f"logger.logdir={a_file}/logs"], f"logger.logdir={a_file}/logs: cannot write the run log there: "
                                                      f"{a_file} is a file, not a folder"),
        "checkpoint dir": ([f"trainer.checkpoint.dirpath={a_file}/ckpt"],
                           f"trainer.checkpoint.dirpath={a_file}/ckpt: cannot write the checkpoint there"),
        "data folder": (["data=folder", f"data.root={tmp}/no-such-folder"],
                        f"data.root={tmp}/no-such-folder: no such folder"),
        "batch size": (["data.batch_size=0"], "data.batch_size must be a whole number >= 1, got 0"),
    }


FOLDER_DATA = os.path.join(os.path.dirname(seetrain.__file__), "train", "configs", "data", "folder.yaml")


@pytest.mark.parametrize("case", ["logdir", "checkpoint dir", pytest.param("data folder", marks=pytest.mark.skipif(
    not os.path.isfile(FOLDER_DATA), reason="data=folder is not in this checkout yet")), "batch size"])
def test_path_errors_come_before_any_framework_import_and_leave_no_run(case, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    args, message = _path_cases(str(tmp_path))[case]
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    logs = tmp_path / "logs"
    res = run_python([str(script)] + FAST + args, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                     env={**os.environ, "SEETRAIN_LOGDIR": str(logs)})
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["rc"] == 2, res.stderr
    assert res.stderr.strip() == f"seetrain train: {message}" or message in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert out["heavy"] == [], out                          # checked before torch/lightning/paddle were imported
    assert not logs.exists()                                # no run was created (none left marked crashed)


def test_a_batch_larger_than_the_training_set_is_told_before_any_framework_import_and_leaves_no_run(tmp_path):
    """The data is built (and sized) before the backend and the model are loaded: a batch size larger
    than the training set needs the data, not torch, lightning or paddle."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    logs = tmp_path / "logs"
    res = run_python([str(script)] + FAST + ["data=digits", "data.batch_size=5000"], capture_output=True, text=True,
                     timeout=120, cwd=tmp_path, env={**os.environ, "SEETRAIN_LOGDIR": str(logs)})
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["rc"] == 2, res.stderr
    assert "data.batch_size=5000 is larger than the training set" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert out["heavy"] == [], out  # nor scikit-learn: data=digits reads the CSV file it ships
    assert not logs.exists()


@pytest.mark.skipif(importlib.util.find_spec("paddle") is None, reason="PaddlePaddle is not installed")
def test_a_model_of_the_other_backend_names_the_real_backend(capsys):
    assert train_main(FAST + ["trainer.backend=paddle", "model=small_cnn", "model.name=apt_lm", "model.width=8"]) == 2
    err = capsys.readouterr().err
    assert "trainer.backend=lightning" in err and "trainer.backend=torch" not in err, err


@pytest.mark.parametrize("args, expected", [
    (["model=resnt18"], "unknown model config 'resnt18'; did you mean 'resnet18'?"),
    (["model.name=smal_cnn"], "unknown model 'smal_cnn'; did you mean 'small_cnn'?"),
    (["data=digts"], "unknown data config 'digts'; did you mean 'digits'?"),
], ids=["model group", "model name", "data group"])
def test_an_unknown_model_or_dataset_gets_did_you_mean_before_torch_is_imported(args, expected, tmp_path):
    """The registry knows its built-in names without loading a framework: a typo is answered from the
    names alone, in well under a second, with no torch (nor lightning or paddle) in the process."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    logs = tmp_path / "logs"
    res = run_python([str(script)] + FAST + args, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                     env={**os.environ, "SEETRAIN_LOGDIR": str(logs)})
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["rc"] == 2, res.stderr
    assert expected in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert out["heavy"] == [], out                          # torch was not imported to find the names
    assert not logs.exists()

"""Every boundary case gives one clear message (exit code 2) and leaves no run behind."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("lightning")

import seetrain  # noqa: E402
from seetrain.train.commands import train_main  # noqa: E402
from seetrain.train.config import load_config  # noqa: E402
from seetrain.train.errors import TrainConfigError  # noqa: E402

from .conftest import FAST  # noqa: E402
from tests._child import run_python  # noqa: E402

CASES = [
    # (arguments, what the message must say)
    (["data.subset=0"], r"data.subset=0 leaves dataset 'digits' empty"),
    (["data.subset=1"], r"data.subset=1 leaves 1 sample, too few to hold out validation data \(data.val_split=0.2\); "
                        r"use at least 2 samples$"),
    (["data=synthetic", "data.num_samples=0"], r"dataset 'synthetic' is empty \(0 training samples\)"),
    (["data.batch_size=5000"], r"data.batch_size=5000 is larger than the training set \(1438 samples of 'digits'\)"),
    (["model=resnt18"], r"unknown model config 'resnt18'; did you mean 'resnet18'\?"),
    (["model.name=resnet81"], r"unknown model 'resnet81'; did you mean 'resnet18'\?"),
    (["data=cifar11"], r"unknown data config 'cifar11'; did you mean 'cifar10'\?"),
    (["data.name=fashion_mnst"], r"unknown dataset 'fashion_mnst'; did you mean 'fashion_mnist'\?"),
    (["model=small_vit", "model.patch_size=3"], r"model 'small_vit' cannot take the 8x8 images of data 'digits': "
                                                r"the image side 8 is not a multiple of model.patch_size=3"),
    (["model=resnet18", "model.stem=imagenet"], r"cannot take the 8x8 images .*use model.stem=cifar"),
    (["model.num_classes=5"], r"model.num_classes=5 disagrees with data 'digits', which has 10 classes"),
    (["trainer.max_epoch=3"], r"unknown config key 'trainer.max_epoch'; did you mean 'trainer.max_epochs'\?"),
    (["model.widht=8"], r"unknown config key 'model.widht'; did you mean 'model.width'\?"),
    (["trainer.max_epochs=abc"], r"trainer.max_epochs must be a whole number, got 'abc'"),
    (["trainer.max_epochs=0"], r"trainer.max_epochs must be >= 1, got 0"),
    (["optim.lr=fast"], r"optim.lr must be a number, got 'fast'"),
    (["optim.name=sgdd"], r"optim.name='sgdd' is not allowed; did you mean 'sgd'\?"),
    (["trainer.precision=17"], r"trainer.precision=17 is not allowed"),
    (["data.val_split=1.5"], r"data.val_split must be a fraction in \(0, 1\)"),
    (["trainer.backend=lightnin"], r"unknown trainer.backend 'lightnin'; did you mean 'lightning'\?"),
    (["trainer.resume=/nonexistent/x.ckpt"], r"trainer.resume=/nonexistent/x.ckpt: no such checkpoint file"),
    (["trainer.strategy=dpp"], r"trainer settings rejected by Lightning"),
    (["trainer.val_check_interval=500"], r"trainer.val_check_interval must be a fraction of an epoch in \(0, 1\] or a "
                                         r"number of training batches from 1 to 22 \(one epoch here; any number with "
                                         r"trainer.check_val_every_n_epoch=null\), got 500"),
    (["model.pretrained=true"], r"model 'small_cnn' has no published pretrained weights"),
    (["experiment=apt_lm", "data.seq_len=4096"], r"data.seq_len=4096 exceeds model.max_seq_len=128"),
]


@pytest.mark.parametrize("args,message", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_boundary_case_message_and_no_run(args, message, logdir, capsys):
    assert train_main(FAST + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("seetrain train: ")
    assert re.search(message, err), err
    assert len(err.strip().splitlines()) == 1, err           # one message, no traceback
    assert not seetrain.list_runs(logdir)


def test_typo_in_a_yaml_file_and_bad_yaml(tmp_path, capsys):
    user = tmp_path / "exp.yaml"
    user.write_text("trainer:\n  max_epcohs: 3\n")
    with pytest.raises(TrainConfigError, match="unknown config key 'trainer.max_epcohs'; did you mean 'trainer.max_epochs'"):
        load_config([str(user)])
    user.write_text("optim: {lr: [\n")
    with pytest.raises(TrainConfigError, match="is not valid YAML"):
        load_config([str(user)])
    user.write_text("modle: resnet18\n")
    with pytest.raises(TrainConfigError, match="unknown config key 'modle'; did you mean 'model'"):
        load_config([str(user)])


def test_missing_environment_variable_names_the_key(monkeypatch):
    monkeypatch.delenv("SEETRAIN_TEST_NOPE", raising=False)
    with pytest.raises(TrainConfigError, match="logger.project"):
        load_config(["logger.project=${oc.env:SEETRAIN_TEST_NOPE}"])


def test_groups_files_and_overrides_compose(tmp_path, monkeypatch):
    monkeypatch.setenv("SEETRAIN_TEST_LR", "0.25")
    user = tmp_path / "exp.yaml"
    user.write_text("model: resnet18\noptim:\n  lr: ${oc.env:SEETRAIN_TEST_LR}\ntrainer:\n  max_epochs: 4\n")
    cfg = load_config([str(user), "data=cifar10", "trainer.max_epochs=7", "model.width=16", "logger=none"])
    assert cfg["model"]["name"] == "resnet18" and cfg["model"]["stem"] == "auto" and cfg["model"]["width"] == 16
    assert cfg["optim"]["lr"] == 0.25 and cfg["trainer"]["max_epochs"] == 7 and cfg["trainer"]["precision"] == "auto"
    assert cfg["data"]["name"] == "cifar10" and cfg["data"]["augment"]["random_crop"] == 4
    assert cfg["logger"]["enabled"] is False
    # an experiment bundles groups and keys; the command line still wins
    cfg = load_config(["experiment=cifar10_resnet18", "optim.lr=0.05"])
    assert cfg["model"]["name"] == "resnet18" and cfg["optim"]["name"] == "sgd" and cfg["optim"]["lr"] == 0.05
    assert cfg["trainer"]["max_epochs"] == 30 and cfg["experiment"] == "cifar10_resnet18"
    # a group given as a mapping with another name starts from that group's file
    user.write_text("model:\n  name: small_vit\n  depth: 2\n")
    cfg = load_config([str(user)])
    assert cfg["model"]["name"] == "small_vit" and cfg["model"]["depth"] == 2 and "width" not in cfg["model"]
    cfg = load_config(["trainer=quick"])
    assert cfg["trainer"]["max_epochs"] == 1 and cfg["trainer"]["checkpoint"]["enabled"] is False
    assert "defaults_from" not in cfg["trainer"]


def test_print_config_and_help(capsys):
    assert train_main(["--print-config", "model=efficientnet_b0"]) == 0
    out = capsys.readouterr().out
    assert "name: efficientnet_b0" in out and "drop_path: 0.2" in out
    assert train_main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "resnet50" in out and "fashion_mnist" in out and "hparams_search: digits_small_cnn" in out


def test_python_dash_m_entry_point(tmp_path):

    res = run_python(["-m", "seetrain.train", "--print-config", "model=resnet50", "data=cifar100"],
                     capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "name: resnet50" in res.stdout and "name: cifar100" in res.stdout
    res = run_python(["-m", "seetrain.train", "trainer.max_epochs=-3"], capture_output=True,
                     text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 2 and "python -m seetrain.train: trainer.max_epochs must be >= 1, got -3" in res.stderr
    assert not (tmp_path / "seetrain_logs").exists()

"""Environment interpolation works for every key (numbers in data.* and model.* too), and a YAML file
can extend another (``extends:``, relative to the file; chains; a cycle or a missing file is one clear error)."""

from __future__ import annotations

import pytest

from seetrain.train.config import load_config
from seetrain.train.errors import TrainConfigError


def test_env_numbers_for_data_and_model_keys(monkeypatch, tmp_path):
    monkeypatch.setenv("SEETRAIN_TEST_BS", "24")
    monkeypatch.setenv("SEETRAIN_TEST_AUG", "0.5")
    cfg = load_config(["data.batch_size=${oc.env:SEETRAIN_TEST_BS,32}", "model.width=${oc.env:SEETRAIN_TEST_W,8}",
                       "data.augment.horizontal_flip=${oc.env:SEETRAIN_TEST_AUG,0.0}", "data.subset=${oc.env:SEETRAIN_TEST_N,100}"])
    assert cfg["data"]["batch_size"] == 24 and cfg["model"]["width"] == 8          # set, and the default
    assert cfg["data"]["augment"]["horizontal_flip"] == 0.5 and cfg["data"]["subset"] == 100  # a null default too
    user = tmp_path / "exp.yaml"
    user.write_text("data:\n  batch_size: ${oc.env:SEETRAIN_TEST_BS,32}\nlogger:\n  project: ${oc.env:SEETRAIN_TEST_P,123}\n")
    cfg = load_config([str(user)])
    assert cfg["data"]["batch_size"] == 24 and cfg["logger"]["project"] == "123"   # a string key stays a string


def test_env_value_that_is_not_a_number_still_names_the_key(monkeypatch):
    monkeypatch.setenv("SEETRAIN_TEST_BS", "big")
    from seetrain.train.data import build_data

    cfg = load_config(["data.batch_size=${oc.env:SEETRAIN_TEST_BS,32}"])
    with pytest.raises(TrainConfigError, match="data.batch_size must be a whole number >= 1, got 'big'"):
        build_data(cfg["data"])


def test_a_yaml_file_extends_another(tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "base.yaml").write_text("model: resnet18\ntrainer:\n  max_epochs: 4\noptim:\n  lr: 0.1\n  name: sgd\n")
    (tmp_path / "mid.yaml").write_text("extends: shared/base.yaml\noptim:\n  lr: 0.05\n")
    (tmp_path / "exp.yaml").write_text("extends: [mid.yaml]\ndata: cifar10\n")
    cfg = load_config([str(tmp_path / "exp.yaml"), "trainer.max_epochs=7"])
    assert cfg["model"]["name"] == "resnet18" and cfg["data"]["name"] == "cifar10"
    assert cfg["optim"] == {**cfg["optim"], "lr": 0.05, "name": "sgd"} and cfg["trainer"]["max_epochs"] == 7
    assert "extends" not in cfg


def test_extends_a_missing_file_or_a_cycle_is_one_clear_error(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: nope.yaml\n")
    with pytest.raises(TrainConfigError, match=r"a.yaml: extends: .*nope.yaml does not exist"):
        load_config([str(tmp_path / "a.yaml")])
    (tmp_path / "b.yaml").write_text("extends: c.yaml\n")
    (tmp_path / "c.yaml").write_text("extends: b.yaml\n")
    with pytest.raises(TrainConfigError, match=r"extends: .*b.yaml extends itself \(b.yaml -> c.yaml -> b.yaml\)"):
        load_config([str(tmp_path / "b.yaml")])

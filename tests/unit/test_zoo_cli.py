"""`coe zoo` as a user types it (in-process, no Ray)."""

from __future__ import annotations

import json

from coe.cli import main


def test_eval_json_prints_one_object(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("COE_CACHE", str(tmp_path))
    assert main(["zoo", "eval", "resnet20", "--dataset", "cifar10-lossless-200", "--json"]) == 0
    out = capsys.readouterr().out.strip()
    payload = json.loads(out)
    assert set(payload) == {"model", "dataset", "split", "n", "accuracy"}
    assert payload["n"] == 200 and payload["accuracy"] >= 0.90
    assert (tmp_path / "evals").is_dir()  # cached for `coe zoo list`


def test_eval_unknown_model_and_dataset_exit_2(capsys):
    assert main(["zoo", "eval", "resnet99", "--dataset", "cifar10-lossless-200"]) == 2
    assert "unknown model 'resnet99'" in capsys.readouterr().err
    assert main(["zoo", "eval", "resnet20", "--dataset", "mnist"]) == 2
    assert "valid datasets: cifar10-jpeg" in capsys.readouterr().err


def test_train_rejects_non_trainable_model(capsys):
    assert main(["zoo", "train", "--models", "resnet20"]) == 2
    assert "trainable models: cnn_a" in capsys.readouterr().err


def test_list_explains_mflops_are_macs(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("COE_CACHE", str(tmp_path))
    assert main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    assert "multiply-accumulates" in out
    assert "resnet56" in out and "853,018" in out


def test_train_with_shipped_weights_trains_nothing(capsys, monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("must not train")

    monkeypatch.setenv("COE_CACHE", str(tmp_path))
    monkeypatch.setattr("zoo.train.train_and_cache", refuse)
    assert main(["zoo", "train", "cnn_a", "cnn_d"]) == 0
    out = capsys.readouterr().out
    assert "cnn_a: shipped" in out and "cnn_d: shipped" in out and "--force" in out

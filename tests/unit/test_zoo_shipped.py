"""Weights shipped in zoo/weights/: manifest integrity, precedence, no training on a first run."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from zoo import shipped
from zoo.registry import SMALL_CNN_NAMES, load_member
from zoo.shipped import (
    MAX_FILE_BYTES,
    WEIGHTS_DIR,
    ShippedWeightsError,
    file_sha256,
    load_shipped_state,
    read_manifest,
)


def test_manifest_lists_every_small_cnn_with_its_file_sha256_and_record():
    entries = read_manifest()
    assert sorted(entries) == sorted([*SMALL_CNN_NAMES, "collage_cnn"])  # collage: own test
    for name, entry in entries.items():
        if name == "collage_cnn":
            continue  # tests/unit/test_collage_cnn.py checks its (different) record
        path = WEIGHTS_DIR / entry.file
        assert path.is_file(), path
        assert path.stat().st_size == entry.bytes <= MAX_FILE_BYTES
        assert file_sha256(path) == entry.sha256, f"{path} does not match the manifest"
        record = entry.record
        assert record["name"] == name and record["dataset"] == "cifar10-jpeg"
        assert record["split"] == "train" and record["epochs"] >= 1
        assert record["seed"] == record["config"]["seed"] and record["threads"] >= 1
        assert record["train_seconds"] > 0 and 0.5 < entry.test_accuracy <= 1.0
        teachers = record["distillation"]["teachers"]
        assert [t["name"] for t in teachers] == ["resnet20", "resnet32", "resnet44", "resnet56"]
        assert all(len(t["weights_sha256"]) == 64 for t in teachers)
        assert record["distillation"]["temperature"] > 0
        assert 0 < record["distillation"]["alpha"] <= 1
        assert entry.command.startswith(f"coe zoo train {name} ")
        assert entry.command == record["command"] and "--force" in entry.command


def test_manifest_file_names_only_files_that_exist():
    listed = {entry.file for entry in read_manifest().values()}
    present = {p.name for p in WEIGHTS_DIR.glob("*.pt")}
    assert listed == present


@pytest.mark.parametrize("name", SMALL_CNN_NAMES)
def test_shipped_state_loads_into_the_architecture(name):
    from zoo.hashing import state_sha256
    from zoo.small_cnns import SMALL_CNNS

    state = load_shipped_state(name)
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    model = SMALL_CNNS[name]()
    model.load_state_dict(state)
    assert state_sha256(model) == read_manifest()[name].state_sha256


def _copy_weights(tmp_path):
    target = tmp_path / "weights"
    shutil.copytree(WEIGHTS_DIR, target)
    return target


def test_tampered_file_is_refused_naming_the_file(tmp_path):
    weights = _copy_weights(tmp_path)
    path = weights / read_manifest(weights)["cnn_a"].file
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ShippedWeightsError, match="sha256") as info:
        load_shipped_state("cnn_a", weights)
    assert str(path) in str(info.value)


def test_missing_manifest_entry_is_a_clear_error(tmp_path):
    weights = _copy_weights(tmp_path)
    payload = json.loads((weights / "manifest.json").read_text())
    del payload["models"]["cnn_b"]
    (weights / "manifest.json").write_text(json.dumps(payload))
    with pytest.raises(ShippedWeightsError, match="lists no weights for 'cnn_b'"):
        load_shipped_state("cnn_b", weights)


def test_empty_cache_uses_shipped_weights_and_trains_nothing(monkeypatch, tmp_path):
    from zoo import train
    from zoo.registry import model_info

    def refuse(*args, **kwargs):
        raise AssertionError("must not train")

    monkeypatch.setenv("COE_CACHE", str(tmp_path))
    monkeypatch.setattr(train, "train_and_cache", refuse)
    monkeypatch.setattr(train, "train_model", refuse)
    for name in SMALL_CNN_NAMES:
        member = load_member(name)
        assert member.weights_sha == read_manifest()[name].state_sha256
        record = train.read_record(name)
        assert record is not None and record.test_accuracy == read_manifest()[name].test_accuracy
        info = model_info(name)
        assert info.available and info.cached_accuracy == record.test_accuracy
    assert not (tmp_path / "zoo").exists()


def _cache_run(name, model, architecture_sha=None):
    """A fake `coe zoo train` result in the cache for `model`."""
    from zoo.hashing import architecture_sha256, state_sha256
    from zoo.train import TrainConfig, TrainRecord, record_file, weights_file

    weights_file(name).parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights_file(name))
    record = TrainRecord(
        name=name,
        epochs=1,
        seed=0,
        train_seconds=1.0,
        train_cpu_seconds=1.0,
        train_images=1,
        test_accuracy=0.123,
        calibration_accuracy=0.1,
        mflops=1.0,
        params=1,
        weights_sha256=state_sha256(model),
        config=TrainConfig(),
        architecture_sha256=architecture_sha or architecture_sha256(model),
    )
    record_file(name).write_text(record.model_dump_json())
    return state_sha256(model)


def test_a_retrained_cache_copy_wins_over_the_shipped_file(monkeypatch, tmp_path):
    from zoo.small_cnns import SMALL_CNNS
    from zoo.train import read_record

    monkeypatch.setenv("COE_CACHE", str(tmp_path))
    torch.manual_seed(123)
    sha = _cache_run("cnn_b", SMALL_CNNS["cnn_b"]())
    assert load_member("cnn_b").weights_sha == sha != read_manifest()["cnn_b"].state_sha256
    assert read_record("cnn_b").test_accuracy == 0.123


def test_a_cache_copy_for_another_architecture_is_ignored(monkeypatch, tmp_path):
    from zoo.small_cnns import SMALL_CNNS
    from zoo.train import read_record

    monkeypatch.setenv("COE_CACHE", str(tmp_path))
    _cache_run("cnn_c", SMALL_CNNS["cnn_c"](), architecture_sha="0" * 64)
    assert load_member("cnn_c").weights_sha == read_manifest()["cnn_c"].state_sha256
    assert read_record("cnn_c").test_accuracy == read_manifest()["cnn_c"].test_accuracy


def test_ship_copies_a_cached_run_into_a_weights_dir(monkeypatch, tmp_path):
    from zoo.datasets import Split
    from zoo.small_cnns import SMALL_CNNS

    monkeypatch.setenv("COE_CACHE", str(tmp_path / "cache"))
    images = torch.zeros((4, 32, 32, 3), dtype=torch.uint8).numpy()
    labels = torch.zeros(4, dtype=torch.int64).numpy()
    split = Split("cifar10-jpeg", "test", images, labels, ("a",), ("p",) * 4)
    monkeypatch.setattr("zoo.datasets.load_split", lambda dataset, name: split)
    sha = _cache_run("cnn_d", SMALL_CNNS["cnn_d"]())
    weights = tmp_path / "weights"
    entry = shipped.ship("cnn_d", weights)
    assert entry.dtype == "float32" and entry.state_sha256 == sha
    assert file_sha256(weights / "cnn_d.pt") == entry.sha256
    assert read_manifest(weights)["cnn_d"].test_accuracy == entry.test_accuracy
    assert set(load_shipped_state("cnn_d", weights)) == set(SMALL_CNNS["cnn_d"]().state_dict())


@pytest.mark.parametrize("name", SMALL_CNN_NAMES)
def test_train_defaults_reproduce_the_shipped_run(name):
    """`coe zoo train --force` with no options retrains what ships (epochs and seed)."""
    from zoo.train import DEFAULT_EPOCHS, DEFAULT_SEEDS

    record = shipped.shipped_record(name)
    assert (DEFAULT_EPOCHS[name], DEFAULT_SEEDS[name]) == (record.epochs, record.seed)

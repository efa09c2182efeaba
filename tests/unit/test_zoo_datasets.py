"""Dataset splits: deterministic, stratified, disjoint; clear errors for bad names."""

from __future__ import annotations

import numpy as np
import pytest

from foundation.paths import assets_root
from zoo.datasets import DATASET_SPLITS, load_split, stratified_halves, validate


def test_stratified_halves_on_synthetic_labels():
    labels = np.repeat(np.arange(10), 1000)
    np.random.default_rng(1).shuffle(labels)
    first, second = stratified_halves(labels)
    assert len(first) == len(second) == 5000
    assert not set(first) & set(second)
    assert sorted(np.concatenate([first, second])) == list(range(10_000))
    assert np.bincount(labels[first]).tolist() == [500] * 10
    assert np.bincount(labels[second]).tolist() == [500] * 10
    again = stratified_halves(labels)
    assert np.array_equal(first, again[0]) and np.array_equal(second, again[1])


def test_real_jpeg_calibration_and_test_partition_the_test_folder():
    everything = load_split("cifar10-jpeg", "all")
    calibration = load_split("cifar10-jpeg", "calibration")
    test = load_split("cifar10-jpeg", "test")
    assert everything.images.shape == (10_000, 32, 32, 3)
    assert everything.images.dtype == np.uint8 and everything.labels.dtype == np.int64
    assert len(calibration) == len(test) == 5000
    assert np.bincount(calibration.labels).tolist() == [500] * 10
    assert np.bincount(test.labels).tolist() == [500] * 10
    assert not set(calibration.paths) & set(test.paths)
    assert set(calibration.paths) | set(test.paths) == set(everything.paths)
    assert everything.class_names[0] == "airplane" and everything.class_names[9] == "truck"
    position = everything.paths.index(test.paths[7])
    assert np.array_equal(everything.images[position], test.images[7])


def test_lossless_200_is_exact_uint8():
    data = load_split("cifar10-lossless-200", "all")
    raw = np.load(assets_root() / "data" / "cifar10-lossless-200" / "X.npy")
    assert data.images.shape == (200, 32, 32, 3) and data.images.dtype == np.uint8
    np.testing.assert_allclose(data.images / 255.0, raw, atol=1e-6)


def test_unknown_dataset_and_split_list_valid_names():
    with pytest.raises(ValueError, match="cifar10-jpeg, cifar10-lossless-200"):
        validate("imagenet", "all")
    with pytest.raises(ValueError, match="train, calibration, test, all"):
        load_split("cifar10-jpeg", "val")
    assert DATASET_SPLITS["cifar10-lossless-200"] == ("all",)


def test_missing_dataset_names_the_path(monkeypatch, tmp_path):
    from foundation.paths import AssetNotFoundError

    monkeypatch.setenv("COE_ASSETS", str(tmp_path))
    with pytest.raises(AssetNotFoundError, match=str(tmp_path / "data" / "cifar10-jpeg" / "test")):
        load_split("cifar10-jpeg", "test")

"""CIFAR ResNets: exact architecture, checkpoint key mapping, real pretrained accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from foundation.paths import AssetNotFoundError
from zoo.flops import count_mflops, count_params
from zoo.resnet_cifar import checkpoint_path, map_checkpoint_keys, resnet_cifar

PUBLISHED_PARAMS = {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018}
PUBLISHED_MACS = {20: 41, 32: 69, 44: 97, 56: 125}


@pytest.mark.parametrize("depth", sorted(PUBLISHED_PARAMS))
def test_parameter_count_matches_published(depth):
    assert count_params(resnet_cifar(depth)) == PUBLISHED_PARAMS[depth]


@pytest.mark.parametrize("depth", [20, 56])
def test_mflops_are_multiply_accumulates(depth):
    assert abs(count_mflops(resnet_cifar(depth)) - PUBLISHED_MACS[depth]) < 1.0


def test_unsupported_depth_lists_valid_ones():
    with pytest.raises(ValueError, match=r"\[20, 32, 44, 56\]"):
        resnet_cifar(18)


def test_downsampling_shortcut_is_parameter_free_and_shapes_match():
    model = resnet_cifar(20)
    assert not list(model.layer2[0].shortcut.parameters())
    out = model.layer2[0].shortcut(torch.zeros(2, 16, 32, 32))
    assert out.shape == (2, 32, 16, 16)


def _legacy_state(model):
    """A checkpoint the way DataParallel saved it: `module.` prefix, no num_batches_tracked."""
    return {
        f"module.{k}": v.clone()
        for k, v in model.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }


def test_key_mapping_strips_module_prefix_and_fills_batch_counters():
    model = resnet_cifar(20)
    mapped = map_checkpoint_keys(_legacy_state(model), set(model.state_dict()))
    assert set(mapped) == set(model.state_dict())
    assert not any(k.startswith("module.") for k in mapped)
    model.load_state_dict(mapped, strict=True)


def test_key_mapping_rejects_unexpected_and_missing_keys():
    model = resnet_cifar(20)
    state = _legacy_state(model)
    state["module.extra.weight"] = torch.zeros(1)
    del state["module.linear.bias"]
    with pytest.raises(KeyError, match=r"linear\.bias") as info:
        map_checkpoint_keys(state, set(model.state_dict()))
    assert "extra.weight" in str(info.value)


def test_missing_checkpoint_error_names_path_and_url(monkeypatch, tmp_path):
    monkeypatch.setenv("COE_ASSETS", str(tmp_path))
    with pytest.raises(AssetNotFoundError) as info:
        checkpoint_path(20)
    message = str(info.value)
    assert str(tmp_path / "models" / "resnet-cifar10" / "resnet20-12fca82f.th") in message
    assert "akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/resnet20" in message


def test_real_resnet20_scores_at_least_90_percent_on_lossless_200():
    from zoo.datasets import load_split
    from zoo.registry import load_member

    member = load_member("resnet20")
    data = load_split("cifar10-lossless-200", "all")
    probs = member.predict_probs(data.images)
    assert probs.shape == (200, 10) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (probs.argmax(1) == data.labels).mean() >= 0.90

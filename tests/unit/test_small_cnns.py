"""The cheap tier's shape: at least five shallow models from different families, all cheap."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.flops import count_layers, count_macs
from zoo.registry import SMALL_CNN_NAMES
from zoo.resnet_cifar import resnet_cifar
from zoo.small_cnns import MAX_LAYERS, MAX_MACS, SMALL_CNNS


def test_budget_is_a_tenth_of_resnet20():
    assert count_macs(resnet_cifar(20)) // 10 == MAX_MACS


@pytest.mark.parametrize("name", SMALL_CNN_NAMES)
def test_cheap_model_is_within_macs_and_layers(name):
    model = SMALL_CNNS[name]()
    assert count_macs(model) <= MAX_MACS
    assert count_layers(model) <= MAX_LAYERS


def _signature(model: nn.Module) -> frozenset:
    """What kind of net it is: layer kinds, grouped / depthwise convs, residuals, pooling."""
    kinds = set()
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            if module.groups == module.in_channels > 1:
                kinds.add("depthwise")
            elif module.groups > 1:
                kinds.add("grouped")
            if module.kernel_size == module.stride and module.stride[0] > 1:
                kinds.add("patchify")
        kinds.add(type(module).__name__)
    return frozenset(kinds)


def test_at_least_five_models_from_at_least_three_families():
    assert len(SMALL_CNN_NAMES) >= 5
    families = {_signature(SMALL_CNNS[name]()) for name in SMALL_CNN_NAMES}
    assert len(families) >= 3


@pytest.mark.parametrize("name", SMALL_CNN_NAMES)
def test_forward_and_backward_on_a_batch(name):
    model = SMALL_CNNS[name]().train()
    out = model(torch.randn(4, 3, 32, 32))
    assert out.shape == (4, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())

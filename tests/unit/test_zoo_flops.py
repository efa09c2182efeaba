"""Compute budget of the cheap tier: every small CNN is at most 1/10 of resnet20."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.flops import count_macs, count_mflops
from zoo.resnet_cifar import resnet_cifar
from zoo.small_cnns import SMALL_CNNS


def test_macs_are_half_the_flop_counter():
    layer = nn.Linear(10, 5, bias=False)
    assert count_macs(layer, input_shape=(10,)) == 50


@pytest.mark.parametrize("name", sorted(SMALL_CNNS))
def test_small_cnn_is_at_most_a_tenth_of_resnet20(name):
    budget = count_mflops(resnet_cifar(20)) / 10
    assert count_mflops(SMALL_CNNS[name]()) <= budget


@pytest.mark.parametrize("name", sorted(SMALL_CNNS))
def test_small_cnn_outputs_ten_logits(name):
    model = SMALL_CNNS[name]().eval()
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)

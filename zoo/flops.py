"""Parameter and compute counts for any nn.Module on a CIFAR-sized input.

MFLOPs here are reported as millions of multiply-accumulates (MACs), i.e.
FlopCounterMode's count divided by 2, so that resnet20 reads ~41 as in the published
CIFAR ResNet table (which quotes MACs under the name FLOPs).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_shape: tuple[int, int, int] = (3, 32, 32)) -> int:
    """Multiply-accumulates of one forward pass on a single image."""
    was_training = model.training
    model.eval()
    try:
        sample = torch.zeros((1, *input_shape))
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            model(sample)
        return counter.get_total_flops() // 2
    finally:
        model.train(was_training)


def count_mflops(model: nn.Module, input_shape: tuple[int, int, int] = (3, 32, 32)) -> float:
    """Millions of multiply-accumulates per image (the 'MFLOPs' of the CIFAR ResNet table)."""
    return count_macs(model, input_shape) / 1e6


def count_layers(model: nn.Module) -> int:
    """Convolution and linear layers: on a GPU each is at least one kernel launch. A model
    that is not made of torch layers (an ONNX session) states its own `kernel_layers`."""
    declared = getattr(model, "kernel_layers", None)
    if isinstance(declared, int):
        return declared
    kinds = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
    return sum(1 for module in model.modules() if isinstance(module, kinds))

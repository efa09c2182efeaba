"""The project's own cheap-tier CNNs: five shallow nets from different families.

Each costs at most 1/10 of resnet20's multiply-accumulates (<= 4.06 M MACs per 32x32 image)
and has at most 6 convolution + linear layers: on a GPU every layer is at least one kernel
launch with a fixed floor (zoo.flops.count_layers, the cost model's per-layer floor), so a
cheap model is cheap only if it is shallow; the MAC budget goes into width instead.

Different inductive biases make their mistakes less correlated, which is what
agreement-based exits need:

- cnn_a  plain VGG-style: full-resolution 3x3 stem, conv + max-pool stages (32->16->8->4)
- cnn_b  grouped convolutions (ResNeXt-like channel groups) after a stride-2 stem
- cnn_c  residual: a two-conv identity block at 8x8, then a wide 1x1 expansion
- cnn_d  ConvMixer: 4x4 "patchify" stem, large-kernel depthwise mixing with a residual,
         pointwise channel mixing, GELU
- cnn_e  all-strided: a 5x5 and two 3x3 stride-2 convs, no pooling, a wide 1x1 at 4x4

All weights are trained by `coe zoo train` (zoo/train.py), distilled from the pretrained
ResNet ensemble, and shipped in zoo/weights/.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

#: Cheap-tier limits, checked by the unit tests.
MAX_MACS = 4_055_104  # 1/10 of resnet20's 40,551,040 multiply-accumulates
MAX_LAYERS = 6  # conv + linear layers


def _conv_bn(
    cin: int,
    cout: int,
    stride: int = 1,
    groups: int = 1,
    kernel: int = 3,
    padding: int | None = None,
    act: type[nn.Module] = nn.ReLU,
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(
            cin,
            cout,
            kernel,
            stride=stride,
            padding=kernel // 2 if padding is None else padding,
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm2d(cout),
        act(),
    )


def _head(channels: int, num_classes: int) -> list[nn.Module]:
    return [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]


class _Residual(nn.Module):
    """x + body(x), optionally followed by an activation."""

    def __init__(self, body: nn.Module, act: nn.Module | None = None) -> None:
        super().__init__()
        self.body = body
        self.act = act or nn.Identity()

    def forward(self, x):
        return self.act(x + self.body(x))


def cnn_a(num_classes: int = 10) -> nn.Module:
    """Plain VGG-style: conv-bn-relu + max-pool stages (32 -> 16 -> 8 -> 4). 5 layers."""
    return nn.Sequential(
        _conv_bn(3, 16),
        nn.MaxPool2d(2),
        _conv_bn(16, 32),
        nn.MaxPool2d(2),
        _conv_bn(32, 64),
        nn.MaxPool2d(2),
        _conv_bn(64, 128),
        *_head(128, num_classes),
    )


def cnn_b(num_classes: int = 10) -> nn.Module:
    """Grouped convs: a stride-2 stem, then 2/8/8-group 3x3 convs (16 -> 8 -> 4). 5 layers."""
    return nn.Sequential(
        _conv_bn(3, 48, stride=2),
        _conv_bn(48, 96, stride=2, groups=2),
        _conv_bn(96, 192, groups=8),
        _conv_bn(192, 256, stride=2, groups=8),
        *_head(256, num_classes),
    )


def cnn_c(num_classes: int = 10) -> nn.Module:
    """Residual: two stride-2 convs to 8x8, one identity block, a wide 1x1 expansion. 6 layers."""
    block = nn.Sequential(
        _conv_bn(48, 48),
        nn.Conv2d(48, 48, 3, padding=1, bias=False),
        nn.BatchNorm2d(48),
    )
    return nn.Sequential(
        _conv_bn(3, 24, stride=2),
        _conv_bn(24, 48, stride=2),
        _Residual(block, nn.ReLU()),
        _conv_bn(48, 176, kernel=1),
        *_head(176, num_classes),
    )


def cnn_d(num_classes: int = 10, width: int = 128, blocks: int = 2) -> nn.Module:
    """ConvMixer: 4x4 patches, then (residual 5x5 depthwise, 1x1 pointwise) x 2, GELU. 6 layers."""
    layers: list[nn.Module] = [_conv_bn(3, width, stride=4, kernel=4, padding=0, act=nn.GELU)]
    for _ in range(blocks):
        layers.append(_Residual(_conv_bn(width, width, kernel=5, groups=width, act=nn.GELU)))
        layers.append(_conv_bn(width, width, kernel=1, act=nn.GELU))
    return nn.Sequential(*layers, *_head(width, num_classes))


def cnn_e(num_classes: int = 10) -> nn.Module:
    """All-strided: 5x5 + two 3x3 stride-2 convs (32 -> 4), no pooling, 1x1 widening. 5 layers."""
    return nn.Sequential(
        _conv_bn(3, 32, stride=2, kernel=5),
        _conv_bn(32, 64, stride=2),
        _conv_bn(64, 128, stride=2),
        _conv_bn(128, 384, kernel=1),
        *_head(384, num_classes),
    )


SMALL_CNNS: dict[str, Callable[..., nn.Module]] = {
    "cnn_a": cnn_a,
    "cnn_b": cnn_b,
    "cnn_c": cnn_c,
    "cnn_d": cnn_d,
    "cnn_e": cnn_e,
}

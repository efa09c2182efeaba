"""The project's own cheap-tier CNNs: three different architectures, each <= 1/10 resnet20.

Different inductive biases (plain VGG-style, depthwise-separable, residual with an early
downsample) make their mistakes less correlated, which is what agreement-based exits need.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn


def _conv_bn(
    cin: int, cout: int, stride: int = 1, groups: int = 1, kernel: int = 3
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def cnn_a(num_classes: int = 10) -> nn.Module:
    """Plain VGG-style: conv-bn-relu pairs and max-pooling (32 -> 16 -> 8 -> 4)."""
    return nn.Sequential(
        _conv_bn(3, 16),
        nn.MaxPool2d(2),
        _conv_bn(16, 32),
        nn.MaxPool2d(2),
        _conv_bn(32, 64),
        nn.MaxPool2d(2),
        _conv_bn(64, 128),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(128, num_classes),
    )


class _SeparableBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__(_conv_bn(cin, cin, stride, groups=cin), _conv_bn(cin, cout, kernel=1))


def cnn_b(num_classes: int = 10) -> nn.Module:
    """MobileNet-style depthwise-separable stack after a stride-2 stem: wide, few multiply-adds."""
    return nn.Sequential(
        _conv_bn(3, 32, stride=2),
        _SeparableBlock(32, 64, 1),
        _SeparableBlock(64, 128, 2),
        _SeparableBlock(128, 128, 1),
        _SeparableBlock(128, 224, 2),
        _SeparableBlock(224, 256, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(256, num_classes),
    )


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn(channels, channels),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(x + self.body(x))


def cnn_c(num_classes: int = 10) -> nn.Module:
    """Residual net with a stride-2 stem: works at 16x16, 8x8 and 4x4 from the start."""
    return nn.Sequential(
        _conv_bn(3, 16, stride=2),
        _ResidualBlock(16),
        _conv_bn(16, 32, stride=2),
        _ResidualBlock(32),
        _conv_bn(32, 64, stride=2),
        _conv_bn(64, 64),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, num_classes),
    )


SMALL_CNNS: dict[str, Callable[..., nn.Module]] = {"cnn_a": cnn_a, "cnn_b": cnn_b, "cnn_c": cnn_c}

"""CIFAR ResNets (He et al. 2016, "option A" shortcuts) and their pretrained checkpoints.

Written here rather than imported so the architecture matches the akamaster checkpoints
exactly (parameter-free downsampling shortcuts), which is what makes strict loading work.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from foundation.paths import AssetNotFoundError, assets_root

DEPTHS = (20, 32, 44, 56)
CHECKPOINT_DIR = Path("models") / "resnet-cifar10"
PUBLIC_FILES = {
    20: "resnet20-12fca82f.th",
    32: "resnet32-d509ac18.th",
    44: "resnet44-014dd654.th",
    56: "resnet56-4bfd9763.th",
}
PUBLIC_URL = "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"


class ShortcutA(nn.Module):
    """Parameter-free downsampling shortcut: stride-2 subsample, zero-pad channels."""

    def __init__(self, planes: int) -> None:
        super().__init__()
        self.pad = planes // 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        needs_projection = stride != 1 or in_planes != planes
        self.shortcut: nn.Module = ShortcutA(planes) if needs_projection else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """3x3 stem (16 ch) + three stages of n BasicBlocks (16/32/64 ch) + GAP + Linear."""

    def __init__(self, blocks_per_stage: int, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.in_planes = 16
        self.layer1 = self._stage(16, blocks_per_stage, stride=1)
        self.layer2 = self._stage(32, blocks_per_stage, stride=2)
        self.layer3 = self._stage(64, blocks_per_stage, stride=2)
        self.linear = nn.Linear(64, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)

    def _stage(self, planes: int, count: int, stride: int) -> nn.Sequential:
        layers = []
        for block_stride in [stride] + [1] * (count - 1):
            layers.append(BasicBlock(self.in_planes, planes, block_stride))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def resnet_cifar(depth: int, num_classes: int = 10) -> CifarResNet:
    """Build resnet{20,32,44,56}: depth = 6n + 2."""
    if depth not in DEPTHS:
        raise ValueError(f"unsupported CIFAR ResNet depth {depth}; valid: {list(DEPTHS)}")
    return CifarResNet((depth - 2) // 6, num_classes)


def map_checkpoint_keys(
    state_dict: Mapping[str, torch.Tensor], model_keys: set[str]
) -> OrderedDict[str, torch.Tensor]:
    """Translate a DataParallel checkpoint to our module names.

    Strips the `module.` prefix; the checkpoints predate `num_batches_tracked`, so those
    buffers are filled with zeros when the model expects them. Every other key must match:
    leftovers or gaps are reported by name (strict loading).
    """
    mapped: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in state_dict.items():
        mapped[key.removeprefix("module.")] = value
    for key in model_keys:
        if key.endswith("num_batches_tracked") and key not in mapped:
            mapped[key] = torch.tensor(0, dtype=torch.long)
    unexpected = sorted(set(mapped) - model_keys)
    missing = sorted(model_keys - set(mapped))
    if unexpected or missing:
        raise KeyError(
            f"checkpoint does not match the model: missing {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
            f"{'...' if len(unexpected) > 5 else ''}"
        )
    return mapped


def checkpoint_path(depth: int) -> Path:
    """The `.th` file for a depth (hash globbed), or an error naming where it should be."""
    folder = assets_root() / CHECKPOINT_DIR
    matches = sorted(folder.glob(f"resnet{depth}-*.th")) if folder.is_dir() else []
    if matches:
        return matches[0]
    expected = folder / PUBLIC_FILES[depth]
    raise AssetNotFoundError(
        f"pretrained weights not found: {expected} (assets root {assets_root()}, set COE_ASSETS "
        f"to change it). Download {PUBLIC_URL}{PUBLIC_FILES[depth]} into {folder}."
    )


def read_checkpoint(path: Path) -> dict:
    """A checkpoint read weights-only (zoo.checkpoints): a legacy pickle is converted once
    into a weights-only copy in the cache; nothing is ever unpickled unsafely."""
    from zoo.checkpoints import read_state

    return read_state(path)


def load_pretrained(depth: int) -> CifarResNet:
    """resnet{depth} with the published CIFAR-10 weights, in eval mode."""
    model = resnet_cifar(depth)
    checkpoint = read_checkpoint(checkpoint_path(depth))
    state = checkpoint.get("state_dict", checkpoint)
    mapped = map_checkpoint_keys(state, set(model.state_dict()))
    model.load_state_dict(mapped, strict=True)
    return model.eval()

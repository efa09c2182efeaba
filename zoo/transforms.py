"""Preprocessing: the same normalisation on uint8 batches and on single PIL images.

The batch path (`cifar_batch_transform`, uint8 tensors) is what serving and evaluation use:
torchvision's v2.ToDtype(scale=True) + v2.Normalize arithmetic in plain torch, so that a
member replica never imports torchvision, whose package import pulls in torch._dynamo (via
torchvision.ops) and cost a new replica's constructor about 1.3 CPU-s on this host (2.78
against 1.51 CPU-s, `coe bench replica-start`, docs/BENCHMARKS.md section 7). The
torchvision v2 pipeline (`cifar_v2_transform`) and the PIL recipe the pretrained CIFAR
ResNets were trained with (`cifar_pil_transform`) are the references the unit tests hold it to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from torchvision.transforms import v2

CIFAR_MEAN = (0.485, 0.456, 0.406)
CIFAR_STD = (0.229, 0.224, 0.225)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ScaleAndNormalize(torch.nn.Module):
    """uint8 (N,3,H,W) -> float32 / 255, minus `mean`, over `std`, per channel: the same
    operations, in the same order, as v2.ToDtype(float32, scale=True) + v2.Normalize."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        # built once, not per batch; buffers follow the module's .to(device)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(-1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8:
            raise TypeError(f"expected a uint8 image batch, got {images.dtype}")
        out = images.to(torch.float32).mul_(1.0 / 255)
        return out.sub(self.mean.to(out.device)).div_(self.std.to(out.device))


def cifar_batch_transform() -> ScaleAndNormalize:
    """uint8 (N,3,H,W) -> normalised float32 (N,3,H,W), without importing torchvision."""
    return ScaleAndNormalize(CIFAR_MEAN, CIFAR_STD)


def cifar_v2_transform() -> v2.Compose:
    """The torchvision v2 pipeline `cifar_batch_transform` reproduces (tests hold them equal)."""
    from torchvision.transforms import v2

    return v2.Compose(
        [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=CIFAR_MEAN, std=CIFAR_STD)]
    )


def cifar_pil_transform():
    """PIL image -> normalised float32 (3,H,W), the classic ToTensor + Normalize recipe."""
    from torchvision import transforms as v1

    return v1.Compose([v1.ToTensor(), v1.Normalize(mean=CIFAR_MEAN, std=CIFAR_STD)])


def imagenet_batch_transform(size: int = 224) -> v2.Compose:
    """uint8 (N,3,H,W) -> resized, ImageNet-normalised float32, for torchvision: specs."""
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.Resize((size, size), antialias=True),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
        ]
    )


def fit_image(image, size: tuple[int, int]):
    """A uint8 (H, W, 3) image resized to `size` (H, W), bilinear, as the ingress used to do.

    The ingress decodes each image once at its native size; each member fits it to its own
    input size here, so a 32x32 CIFAR member and a 224x224 ImageNet member share one decode.
    An image already at `size` is returned as it is (no resampling).
    """
    import numpy as np
    from PIL import Image

    height, width = size
    if image.shape[0] == height and image.shape[1] == width:
        return image
    resized = Image.fromarray(np.ascontiguousarray(image)).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    return np.asarray(resized, dtype=np.uint8)

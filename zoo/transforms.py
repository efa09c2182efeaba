"""Preprocessing: the same normalisation on two paths (uint8 batches and single PIL images).

The batch path (transforms.v2 on uint8 tensors) is what serving and evaluation use; the PIL
path reproduces how the pretrained CIFAR ResNets were trained, so a test can prove they agree.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

CIFAR_MEAN = (0.485, 0.456, 0.406)
CIFAR_STD = (0.229, 0.224, 0.225)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def cifar_batch_transform() -> v2.Compose:
    """uint8 (N,3,H,W) -> normalised float32 (N,3,H,W)."""
    return v2.Compose(
        [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=CIFAR_MEAN, std=CIFAR_STD)]
    )


def cifar_pil_transform():
    """PIL image -> normalised float32 (3,H,W), the classic ToTensor + Normalize recipe."""
    from torchvision import transforms as v1

    return v1.Compose([v1.ToTensor(), v1.Normalize(mean=CIFAR_MEAN, std=CIFAR_STD)])


def imagenet_batch_transform(size: int = 224) -> v2.Compose:
    """uint8 (N,3,H,W) -> resized, ImageNet-normalised float32, for torchvision: specs."""
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

"""The uint8-batch preprocessing equals the classic PIL ToTensor + Normalize recipe."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from zoo.transforms import cifar_batch_transform, cifar_pil_transform, imagenet_batch_transform


def test_batch_path_equals_pil_path():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    batch = cifar_batch_transform()(torch.from_numpy(images).permute(0, 3, 1, 2))
    pil = torch.stack([cifar_pil_transform()(Image.fromarray(img)) for img in images])
    assert batch.dtype == torch.float32 and batch.shape == (4, 3, 32, 32)
    torch.testing.assert_close(batch, pil, atol=1e-6, rtol=0)


def test_imagenet_transform_resizes():
    batch = torch.zeros((2, 3, 32, 32), dtype=torch.uint8)
    assert imagenet_batch_transform(64)(batch).shape == (2, 3, 64, 64)

"""The uint8-batch preprocessing equals torchvision's v2 pipeline and the classic PIL recipe."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from foundation.paths import REPO_ROOT
from zoo.transforms import (
    cifar_batch_transform,
    cifar_pil_transform,
    cifar_v2_transform,
    imagenet_batch_transform,
)


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


def test_batch_path_equals_torchvision_v2_pipeline_bit_for_bit():
    rng = np.random.default_rng(1)
    images = torch.from_numpy(rng.integers(0, 256, size=(5, 3, 17, 23), dtype=np.uint8))
    before = images.clone()
    ours, reference = cifar_batch_transform()(images), cifar_v2_transform()(images)
    assert ours.dtype == reference.dtype == torch.float32
    assert torch.equal(ours, reference)
    assert torch.equal(images, before)  # the input batch is left as it was


def test_batch_path_refuses_float_input():
    with pytest.raises(TypeError, match="uint8"):
        cifar_batch_transform()(torch.zeros((1, 3, 4, 4)))


def test_loading_a_cifar_member_does_not_import_torchvision():
    """A member replica's start must not pay for torchvision's import (torch._dynamo)."""
    code = ("import sys; from zoo.registry import load_member; load_member('cnn_a'); "
            "print('torchvision' in sys.modules, 'torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO_ROOT, timeout=120)
    assert out.stdout.split()[-2:] == ["False", "False"], out.stdout + out.stderr

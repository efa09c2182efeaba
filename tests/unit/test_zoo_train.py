"""Training smoke test: the loop learns, and the same seed gives the same weights."""

from __future__ import annotations

import numpy as np
import torch

from zoo.hashing import state_sha256
from zoo.small_cnns import cnn_c
from zoo.train import TrainConfig, augment, train_model


def _colour_dataset(n: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is their dominant colour channel mix: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=n)
    palette = np.array([[220, 30, 30], [30, 220, 30], [30, 30, 220], [220, 220, 30]])
    noise = rng.integers(-30, 31, size=(n, 32, 32, 3))
    images = np.clip(palette[labels][:, None, None, :] + noise, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def _train(seed: int) -> tuple[torch.nn.Module, list[float]]:
    images, labels = _colour_dataset()
    torch.manual_seed(seed)
    model = cnn_c()
    config = TrainConfig(epochs=3, batch_size=32, max_lr=0.05, seed=seed, threads=1)
    losses = train_model(model, images, labels, config, progress=False)
    return model, losses


def test_loss_decreases_and_training_is_deterministic():
    model, losses = _train(seed=7)
    assert len(losses) == 3 * 4
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])
    same, same_losses = _train(seed=7)
    assert losses == same_losses
    assert state_sha256(model) == state_sha256(same)
    other, _ = _train(seed=8)
    assert state_sha256(other) != state_sha256(model)


def test_augment_keeps_shape_and_pixels_from_the_image():
    batch = torch.arange(2 * 3 * 32 * 32, dtype=torch.int64).reshape(2, 3, 32, 32) % 251 + 1
    batch = batch.to(torch.uint8)
    out = augment(batch, torch.Generator().manual_seed(0))
    assert out.shape == batch.shape and out.dtype == torch.uint8
    present = set(batch.unique().tolist()) | {0}  # zero padding may show at the borders
    assert set(out.unique().tolist()) <= present

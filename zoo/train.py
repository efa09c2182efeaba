"""Train the small cheap-tier CNNs on CIFAR-10-JPEG within a few CPU minutes.

Data stays as uint8 arrays in memory; augmentation (random crop with 4px padding and a
horizontal flip) is vectorised over tensor batches so a 2-core machine spends its time in
the convolutions. Seeds fix initialisation, shuffling and augmentation, so the same seed
gives the same weights. Results land in cache_root()/zoo/<name>.pt + <name>.json.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field
from torch import nn

from foundation.paths import cache_root
from zoo.hashing import state_sha256

#: Epochs per model, tuned so the three together train in about 5 minutes on 2 cores.
DEFAULT_EPOCHS = {"cnn_a": 5, "cnn_b": 3, "cnn_c": 5}
DEFAULT_SEEDS = {"cnn_a": 1, "cnn_b": 2, "cnn_c": 3}


class TrainConfig(BaseModel):
    """Hyper-parameters of one training run (recorded next to the weights)."""

    epochs: int = Field(default=5, ge=1)
    batch_size: int = Field(default=256, ge=1)
    max_lr: float = Field(default=0.2, gt=0)
    weight_decay: float = Field(default=5e-4, ge=0)
    label_smoothing: float = Field(default=0.1, ge=0, lt=1)
    seed: int = 0
    threads: int = Field(default=2, ge=1)


class TrainRecord(BaseModel):
    """What `coe zoo train` measured; stored as <name>.json beside the weights."""

    name: str
    epochs: int
    seed: int
    train_seconds: float = Field(description="wall-clock seconds of the training loop")
    train_cpu_seconds: float = Field(description="process CPU seconds (robust to a busy host)")
    train_images: int
    test_accuracy: float
    calibration_accuracy: float
    mflops: float = Field(description="millions of multiply-accumulates per 32x32 image")
    params: int
    weights_sha256: str
    config: TrainConfig


def weights_dir() -> Path:
    return cache_root() / "zoo"


def weights_file(name: str) -> Path:
    return weights_dir() / f"{name}.pt"


def record_file(name: str) -> Path:
    return weights_dir() / f"{name}.json"


def read_record(name: str) -> TrainRecord | None:
    path = record_file(name)
    if not path.exists():
        return None
    return TrainRecord.model_validate_json(path.read_text())


def augment(batch: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop (zero padding `pad`) + horizontal flip of a uint8 (N,C,H,W) batch."""
    n, c, h, w = batch.shape
    padded = F.pad(batch, (pad, pad, pad, pad))
    off_y = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    off_x = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (off_y[:, None] + torch.arange(h))[:, None, :, None]
    cols = (off_x[:, None] + torch.arange(w))[:, None, None, :]
    images = torch.arange(n)[:, None, None, None]
    channels = torch.arange(c)[None, :, None, None]
    cropped = padded[images, channels, rows, cols]
    flip = torch.rand(n, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)


def train_model(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    config: TrainConfig,
    progress: bool = True,
    desc: str = "train",
) -> list[float]:
    """Train `model` in place on uint8 NHWC images; returns the per-step losses."""
    from tqdm import tqdm

    from zoo.transforms import cifar_batch_transform

    torch.set_num_threads(config.threads)
    generator = torch.Generator().manual_seed(config.seed)
    preprocess = cifar_batch_transform()
    data = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    targets = torch.from_numpy(labels.astype(np.int64))
    steps_per_epoch = (len(data) + config.batch_size - 1) // config.batch_size
    model = model.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.max_lr,
        momentum=0.9,
        nesterov=True,
        weight_decay=config.weight_decay,
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.max_lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.25
    )
    losses: list[float] = []
    bar = tqdm(
        total=config.epochs * steps_per_epoch,
        desc=desc,
        unit="step",
        disable=not progress,
        mininterval=1.0,
    )
    for epoch in range(config.epochs):
        order = torch.randperm(len(data), generator=generator)
        for step in range(steps_per_epoch):
            index = order[step * config.batch_size : (step + 1) * config.batch_size]
            batch = augment(data[index], generator)
            inputs = preprocess(batch).contiguous(memory_format=torch.channels_last)
            logits = model(inputs)
            loss = F.cross_entropy(logits, targets[index], label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            bar.set_postfix(epoch=epoch + 1, loss=f"{losses[-1]:.3f}", refresh=False)
            bar.update()
    bar.close()
    return losses


def accuracy(
    model: nn.Module, images: np.ndarray, labels: np.ndarray, batch_size: int = 500
) -> float:
    """Top-1 accuracy of a raw model on uint8 NHWC images (CIFAR preprocessing)."""
    from zoo.transforms import cifar_batch_transform

    preprocess = cifar_batch_transform()
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(images[start : start + batch_size]).permute(0, 3, 1, 2)
            logits = model(preprocess(batch).contiguous(memory_format=torch.channels_last))
            correct += int((logits.argmax(1).numpy() == labels[start : start + batch_size]).sum())
    return correct / len(images)


def train_and_cache(
    name: str, epochs: int | None = None, seed: int | None = None, threads: int = 2
) -> TrainRecord:
    """Train one registered small CNN on cifar10-jpeg/train, score it, cache weights + JSON."""
    from zoo.datasets import load_split
    from zoo.flops import count_macs, count_params
    from zoo.small_cnns import SMALL_CNNS

    if name not in SMALL_CNNS:
        raise ValueError(f"unknown small CNN {name!r}; trainable models: {', '.join(SMALL_CNNS)}")
    config = TrainConfig(
        epochs=epochs or DEFAULT_EPOCHS.get(name, 5),
        seed=DEFAULT_SEEDS.get(name, 0) if seed is None else seed,
        threads=threads,
    )
    train = load_split("cifar10-jpeg", "train")
    torch.manual_seed(config.seed)
    model = SMALL_CNNS[name]()
    started, cpu_started = time.perf_counter(), time.process_time()
    train_model(model, train.images, train.labels, config, desc=f"train {name}")
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    model = model.to(memory_format=torch.contiguous_format).eval()
    test = load_split("cifar10-jpeg", "test")
    calibration = load_split("cifar10-jpeg", "calibration")
    record = TrainRecord(
        name=name,
        epochs=config.epochs,
        seed=config.seed,
        train_seconds=round(seconds, 2),
        train_cpu_seconds=round(cpu_seconds, 2),
        train_images=len(train),
        test_accuracy=accuracy(model, test.images, test.labels),
        calibration_accuracy=accuracy(model, calibration.images, calibration.labels),
        mflops=round(count_macs(model) / 1e6, 3),
        params=count_params(model),
        weights_sha256=state_sha256(model),
        config=config,
    )
    weights_dir().mkdir(parents=True, exist_ok=True)
    tmp = weights_file(name).with_suffix(f".{os.getpid()}.tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, weights_file(name))
    record_file(name).write_text(json.dumps(record.model_dump(), indent=2) + "\n")
    return record

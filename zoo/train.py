"""Train the small cheap-tier CNNs on CIFAR-10-JPEG, distilled from the ResNet ensemble.

Data stays as uint8 arrays in memory; augmentation (random crop with 4px padding and a
horizontal flip) is vectorised over tensor batches so a 2-core machine spends its time in
the convolutions. Seeds fix initialisation, shuffling and augmentation, so the same seed
and thread count give the same weights. The loss is the distillation loss of
`zoo.distill` (soft labels of resnet20/32/44/56, cached once per teacher set) unless
distillation is switched off. Results land in cache_root()/zoo/<name>.pt + <name>.json;
the copies shipped in the repository (zoo/weights/, see `zoo.shipped`) are used when the
cache holds none.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field
from torch import nn

from foundation.paths import cache_root
from zoo.hashing import architecture_sha256, state_sha256

#: Epochs per model: those of the shipped weights (zoo/weights/manifest.json). cnn_a and cnn_c,
#: the two the plans use most, got long schedules (80 epochs each: 25 and 19 minutes on the
#: shared 2-core machine); the other three keep the short ones of their first training
#: (19 minutes for the three).
DEFAULT_EPOCHS = {"cnn_a": 80, "cnn_b": 10, "cnn_c": 80, "cnn_d": 8, "cnn_e": 12}
DEFAULT_SEEDS = {"cnn_a": 1, "cnn_b": 2, "cnn_c": 3, "cnn_d": 4, "cnn_e": 5}
DATASET = "cifar10-jpeg"
TRAIN_SPLIT = "train"


class TrainConfig(BaseModel):
    """Hyper-parameters of one training run (recorded next to the weights)."""

    epochs: int = Field(default=5, ge=1)
    batch_size: int = Field(default=256, ge=1)
    max_lr: float = Field(default=0.2, gt=0)
    weight_decay: float = Field(default=5e-4, ge=0)
    label_smoothing: float = Field(default=0.1, ge=0, lt=1)
    seed: int = 0
    threads: int = Field(default=2, ge=1)
    distill_alpha: float = Field(
        default=0.0, ge=0, le=1, description="weight of the soft-label term; 0 = plain CE"
    )
    distill_temperature: float = Field(default=4.0, gt=0)


class TeacherRecord(BaseModel):
    name: str
    weights_sha256: str


class DistillRecord(BaseModel):
    """Which teacher ensemble produced the soft labels, and how they were used."""

    teachers: list[TeacherRecord]
    soft_labels: str = Field(description="mean over teachers of softmax(logits / temperature)")
    temperature: float
    alpha: float
    soft_label_key: str


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
    dataset: str = DATASET
    split: str = TRAIN_SPLIT
    threads: int = 2
    layers: int | None = Field(default=None, description="conv + linear layers")
    architecture_sha256: str | None = Field(
        default=None, description="names and shapes of the state dict; None in old records"
    )
    distillation: DistillRecord | None = None
    teacher_seconds: float = Field(
        default=0.0, description="wall seconds computing soft labels (0 when cached)"
    )
    command: str = ""


def weights_dir() -> Path:
    return cache_root() / "zoo"


def weights_file(name: str) -> Path:
    return weights_dir() / f"{name}.pt"


def record_file(name: str) -> Path:
    return weights_dir() / f"{name}.json"


def read_cached_record(name: str) -> TrainRecord | None:
    """The record of a `coe zoo train` run in the cache, if it fits today's architecture.

    Weights trained for an older definition of the same name (no or another architecture
    fingerprint) are ignored, so a stale cache never shadows the shipped weights.
    """
    path = record_file(name)
    if not path.exists() or not weights_file(name).exists():
        return None
    try:
        record = TrainRecord.model_validate_json(path.read_text())
    except ValueError:
        return None
    if record.architecture_sha256 != current_architecture_sha(name):
        return None
    return record


def read_record(name: str) -> TrainRecord | None:
    """The record of the weights `load_member(name)` uses: a retrained cache copy, else shipped."""
    record = read_cached_record(name)
    if record is not None:
        return record
    from zoo.shipped import shipped_record

    return shipped_record(name)


def current_architecture_sha(name: str) -> str | None:
    from zoo.small_cnns import SMALL_CNNS

    if name not in SMALL_CNNS:
        return None
    return architecture_sha256(SMALL_CNNS[name]())


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
    soft_targets: torch.Tensor | np.ndarray | None = None,
) -> list[float]:
    """Train `model` in place on uint8 NHWC images; returns the per-step losses.

    With `soft_targets` (N, C) -- the teacher's probabilities at `config.distill_temperature`
    for the same images -- and `config.distill_alpha` > 0 the loss is the distillation loss;
    otherwise label-smoothed cross-entropy. One-cycle learning rate, SGD with Nesterov.
    """
    from tqdm import tqdm

    from zoo.distill import distillation_loss
    from zoo.transforms import cifar_batch_transform

    torch.set_num_threads(config.threads)
    generator = torch.Generator().manual_seed(config.seed)
    preprocess = cifar_batch_transform()
    data = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    targets = torch.from_numpy(labels.astype(np.int64))
    soft = None
    if soft_targets is not None and config.distill_alpha > 0:
        soft = torch.as_tensor(soft_targets, dtype=torch.float32)
        if soft.shape[0] != len(data):
            raise ValueError(f"{soft.shape[0]} soft targets for {len(data)} images")
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
            if soft is None:
                loss = F.cross_entropy(
                    logits, targets[index], label_smoothing=config.label_smoothing
                )
            else:
                loss = distillation_loss(
                    logits,
                    soft[index],
                    targets[index],
                    temperature=config.distill_temperature,
                    alpha=config.distill_alpha,
                    label_smoothing=config.label_smoothing,
                )
            optimizer_step(optimizer, schedule, loss, losses, bar, epoch)
    bar.close()
    return losses


def optimizer_step(optimizer, schedule, loss, losses: list[float], bar, epoch: int) -> None:
    """One SGD step with the one-cycle schedule, the loss logged and shown on the bar
    (shared by the single-image and the collage trainer)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    schedule.step()
    losses.append(loss.item())
    bar.set_postfix(epoch=epoch + 1, loss=f"{losses[-1]:.3f}", refresh=False)
    bar.update()


def predict_labels(model: nn.Module, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Argmax labels of a raw model on uint8 NHWC images (CIFAR preprocessing)."""
    from zoo.transforms import cifar_batch_transform

    preprocess = cifar_batch_transform()
    model.eval()
    out = np.empty(len(images), dtype=np.int64)
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(images[start : start + batch_size]).permute(0, 3, 1, 2)
            logits = model(preprocess(batch).contiguous(memory_format=torch.channels_last))
            out[start : start + batch_size] = logits.argmax(1).numpy()
    return out


def accuracy(
    model: nn.Module, images: np.ndarray, labels: np.ndarray, batch_size: int = 500
) -> float:
    """Top-1 accuracy of a raw model on uint8 NHWC images (CIFAR preprocessing)."""
    return float((predict_labels(model, images, batch_size) == labels).mean())


def train_command(name: str, config: TrainConfig, teachers: tuple[str, ...] | None) -> str:
    """The `coe zoo train` command line that reproduces a run."""
    parts = [
        "coe", "zoo", "train", name,
        "--epochs", str(config.epochs),
        "--seed", str(config.seed),
        "--threads", str(config.threads),
    ]  # fmt: skip
    if config.distill_alpha > 0 and teachers:
        parts += ["--teachers", *teachers]
        parts += ["--temperature", f"{config.distill_temperature:g}"]
        parts += ["--alpha", f"{config.distill_alpha:g}"]
    else:
        parts += ["--no-distill"]
    return shlex.join([*parts, "--force"])


def train_and_cache(
    name: str,
    epochs: int | None = None,
    seed: int | None = None,
    threads: int = 2,
    teachers: tuple[str, ...] | None = None,
    temperature: float | None = None,
    alpha: float | None = None,
    distill: bool = True,
) -> TrainRecord:
    """Train one registered small CNN on cifar10-jpeg/train, score it, cache weights + JSON.

    With `distill` (the default) the student learns from the soft labels of `teachers`
    (default resnet20/32/44/56), computed once per teacher set and cached.
    """
    from zoo.datasets import load_split
    from zoo.distill import (
        DEFAULT_ALPHA,
        DEFAULT_TEACHERS,
        DEFAULT_TEMPERATURE,
        soft_label_key,
        teacher_logits,
        teacher_probs,
    )
    from zoo.flops import count_layers, count_macs, count_params
    from zoo.small_cnns import SMALL_CNNS

    if name not in SMALL_CNNS:
        raise ValueError(f"unknown small CNN {name!r}; trainable models: {', '.join(SMALL_CNNS)}")
    teachers = tuple(teachers or DEFAULT_TEACHERS) if distill else None
    config = TrainConfig(
        epochs=epochs or DEFAULT_EPOCHS.get(name, 5),
        seed=DEFAULT_SEEDS.get(name, 0) if seed is None else seed,
        threads=threads,
        distill_alpha=(DEFAULT_ALPHA if alpha is None else alpha) if distill else 0.0,
        distill_temperature=DEFAULT_TEMPERATURE if temperature is None else temperature,
    )
    train = load_split(DATASET, TRAIN_SPLIT)
    soft, distillation, teacher_seconds = None, None, 0.0
    if teachers and config.distill_alpha > 0:
        started = time.perf_counter()
        logits, identity = teacher_logits(teachers, DATASET, TRAIN_SPLIT, threads=threads)
        teacher_seconds = round(time.perf_counter() - started, 2)
        soft = teacher_probs(logits, config.distill_temperature)
        distillation = DistillRecord(
            teachers=[TeacherRecord(name=n, weights_sha256=s) for n, s in identity],
            soft_labels="mean over teachers of softmax(logits / temperature), un-augmented",
            temperature=config.distill_temperature,
            alpha=config.distill_alpha,
            soft_label_key=soft_label_key(identity, DATASET, TRAIN_SPLIT),
        )
    torch.manual_seed(config.seed)
    model = SMALL_CNNS[name]()
    architecture = architecture_sha256(model)
    started, cpu_started = time.perf_counter(), time.process_time()
    train_model(model, train.images, train.labels, config, desc=f"train {name}", soft_targets=soft)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    model = model.to(memory_format=torch.contiguous_format).eval()
    test = load_split(DATASET, "test")
    calibration = load_split(DATASET, "calibration")
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
        threads=threads,
        layers=count_layers(model),
        architecture_sha256=architecture,
        distillation=distillation,
        teacher_seconds=teacher_seconds,
        command=train_command(name, config, teachers),
    )
    weights_dir().mkdir(parents=True, exist_ok=True)
    tmp = weights_file(name).with_suffix(f".{os.getpid()}.tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, weights_file(name))
    record_file(name).write_text(json.dumps(record.model_dump(), indent=2) + "\n")
    return record

"""Train, score and ship the collage CNN (`coe zoo train-collage`).

Training data are collages of random cifar10-jpeg/train images: every epoch visits each
training image once, s^2 at a time, each image randomly cropped and flipped (zoo.train.augment)
before tiling; a `partial_fraction` of the collages keep only their first k < s^2 cells and
pad the rest (zoo.collage_grid), as the tail of a serving window does. The loss is
label-smoothed cross-entropy over the filled cells only. The body and head are warm-started
from the shipped cnn_a (same layers, fully convolutional), which is why a few epochs on a
2-core CPU suffice. No teacher distillation: the ResNet ensemble's soft labels would cost
more CPU than the whole training (4 ResNets over 50k images) on this machine.

Scoring reports accuracy per cell position on collages of the test split (full grid 2 and
grid 3, and partial grid-2 collages), next to cnn_a's single-image accuracy.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field

from foundation.paths import cache_root
from zoo.collage_cnn import MODEL_NAME, CollageCNN
from zoo.collage_grid import build_collages, cells

DATASET = "cifar10-jpeg"
WARM_START = "cnn_a"


class CollageTrainConfig(BaseModel):
    """Hyper-parameters of one collage-CNN training run (recorded with the weights)."""

    grid: int = Field(default=2, ge=2, le=3)
    epochs: int = Field(default=5, ge=1)
    batch_collages: int = Field(default=64, ge=1)
    max_lr: float = Field(default=0.05, gt=0)
    weight_decay: float = Field(default=5e-4, ge=0)
    label_smoothing: float = Field(default=0.1, ge=0, lt=1)
    partial_fraction: float = Field(default=0.25, ge=0, le=1)
    seed: int = 7
    threads: int = Field(default=1, ge=1)
    warm_start: bool = True


class CellAccuracy(BaseModel):
    """Test accuracy of the collage CNN per cell position (row-major) and overall."""

    grid: int
    filled: str = Field(description="'full', or 'partial' (1..s^2-1 filled cells)")
    collages: int
    per_cell: list[float | None] = Field(description="None: position never filled")
    mean: float


class CollageTrainRecord(BaseModel):
    """What `coe zoo train-collage` measured; stored beside the weights."""

    name: str = MODEL_NAME
    config: CollageTrainConfig
    train_seconds: float
    train_cpu_seconds: float
    train_images: int
    test_accuracy: float = Field(description="mean per-cell accuracy, full grid-`grid` collages")
    cell_accuracy: list[CellAccuracy]
    single_image_reference: dict = Field(description="the warm-start model's own test accuracy")
    params: int
    mflops_per_collage: dict[str, float] = Field(description="by grid, multiply-accumulates")
    warm_start: dict | None = None
    distillation: None = None
    dataset: str = DATASET
    split: str = "train"
    command: str = ""


def weights_file() -> Path:
    return cache_root() / "zoo" / f"{MODEL_NAME}.pt"


def record_file() -> Path:
    return cache_root() / "zoo" / f"{MODEL_NAME}.json"


def train_command(config: CollageTrainConfig) -> str:
    parts = [
        "coe", "zoo", "train-collage",
        "--grid", str(config.grid),
        "--epochs", str(config.epochs),
        "--seed", str(config.seed),
        "--threads", str(config.threads),
        "--max-lr", f"{config.max_lr:g}",
        "--partial-fraction", f"{config.partial_fraction:g}",
    ]  # fmt: skip
    if not config.warm_start:
        parts.append("--no-warm-start")
    return shlex.join(parts)


def collage_batches(
    images: np.ndarray,
    grid: int,
    batch_collages: int,
    partial_fraction: float,
    generator: torch.Generator,
):
    """Yield (cell images (B, s^2, H, W, 3) uint8 torch NCHW-ready, filled (B,), index (B, s^2))."""
    n_cells = cells(grid)
    order = torch.randperm(len(images), generator=generator).numpy()
    usable = len(order) // n_cells * n_cells
    groups = order[:usable].reshape(-1, n_cells)
    for start in range(0, len(groups), batch_collages):
        index = groups[start : start + batch_collages]
        filled = np.full(len(index), n_cells, dtype=np.int64)
        partial = torch.rand(len(index), generator=generator).numpy() < partial_fraction
        k = torch.randint(1, n_cells, (len(index),), generator=generator).numpy()
        filled[partial] = k[partial]
        yield index, filled


def _to_input(collages: np.ndarray, preprocess) -> torch.Tensor:
    batch = torch.from_numpy(collages).permute(0, 3, 1, 2)
    return preprocess(batch).contiguous(memory_format=torch.channels_last)


def train_collage_model(
    model: CollageCNN,
    images: np.ndarray,
    labels: np.ndarray,
    config: CollageTrainConfig,
    progress: bool = True,
) -> list[float]:
    """Train `model` in place on collages of uint8 NHWC `images`; returns per-step losses."""
    from tqdm import tqdm

    from zoo.train import augment, optimizer_step
    from zoo.transforms import cifar_batch_transform

    torch.set_num_threads(config.threads)
    generator = torch.Generator().manual_seed(config.seed)
    preprocess = cifar_batch_transform()
    n_cells = cells(config.grid)
    data = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    targets = torch.from_numpy(labels.astype(np.int64))
    steps_per_epoch = -(-(len(images) // n_cells) // config.batch_collages)
    model = model.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.max_lr, momentum=0.9, nesterov=True,
        weight_decay=config.weight_decay,
    )  # fmt: skip
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.max_lr, total_steps=config.epochs * steps_per_epoch,
        pct_start=0.2,
    )  # fmt: skip
    losses: list[float] = []
    bar = tqdm(total=config.epochs * steps_per_epoch, desc="train collage_cnn", unit="step",
               disable=not progress, mininterval=2.0)  # fmt: skip
    for epoch in range(config.epochs):
        batches = collage_batches(
            images, config.grid, config.batch_collages, config.partial_fraction, generator
        )
        for index, filled in batches:
            flat = torch.from_numpy(index.reshape(-1))
            cell_images = augment(data[flat], generator).permute(0, 2, 3, 1).numpy()
            cell_images = cell_images.reshape(len(index), n_cells, *cell_images.shape[1:])
            logits = model(_to_input(build_collages(cell_images, filled, config.grid), preprocess))
            mask = torch.arange(n_cells)[None, :] < torch.from_numpy(filled)[:, None]
            loss = F.cross_entropy(
                logits[mask], targets[flat].view(len(index), n_cells)[mask],
                label_smoothing=config.label_smoothing,
            )  # fmt: skip
            optimizer_step(optimizer, schedule, loss, losses, bar, epoch)
    bar.close()
    return losses


def cell_accuracy(
    model: CollageCNN,
    images: np.ndarray,
    labels: np.ndarray,
    grid: int,
    partial: bool = False,
    seed: int = 0,
    batch_collages: int = 100,
) -> CellAccuracy:
    """Per-cell-position accuracy on collages of a fixed random grouping of `images`."""
    from zoo.transforms import cifar_batch_transform

    n_cells = cells(grid)
    rng = np.random.default_rng(seed)
    groups = rng.permutation(len(images))[: len(images) // n_cells * n_cells].reshape(-1, n_cells)
    filled = (
        rng.integers(1, n_cells, len(groups)) if partial else np.full(len(groups), n_cells)
    )
    preprocess = cifar_batch_transform()
    correct = np.zeros(n_cells)
    counted = np.zeros(n_cells)
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(groups), batch_collages):
            stop = start + batch_collages
            index, k = groups[start:stop], filled[start:stop]
            collages = build_collages(images[index], k, grid)
            predicted = model(_to_input(collages, preprocess)).argmax(-1).numpy()
            mask = np.arange(n_cells)[None, :] < k[:, None]
            correct += ((predicted == labels[index]) & mask).sum(0)
            counted += mask.sum(0)
    pairs = zip(correct, counted, strict=True)
    per_cell = [round(float(c / n), 4) if n else None for c, n in pairs]
    return CellAccuracy(
        grid=grid,
        filled="partial" if partial else "full",
        collages=len(groups),
        per_cell=per_cell,
        mean=round(float(correct.sum() / counted.sum()), 4),
    )


def score(model: CollageCNN, grid: int) -> list[CellAccuracy]:
    """Per-cell test accuracy: full collages of `grid` and of the other grid, partial ones."""
    from zoo.datasets import load_split

    test = load_split(DATASET, "test")
    other = 3 if grid == 2 else 2
    return [
        cell_accuracy(model, test.images, test.labels, grid),
        cell_accuracy(model, test.images, test.labels, grid, partial=True),
        cell_accuracy(model, test.images, test.labels, other),
    ]


def collage_macs(model: CollageCNN, grid: int) -> float:
    """Millions of multiply-accumulates of one grid-`grid` collage."""
    from zoo.flops import count_macs

    return round(count_macs(model, (3, 32 * grid, 32 * grid)) / 1e6, 3)


def train_and_cache(config: CollageTrainConfig) -> CollageTrainRecord:
    """Train the collage CNN on cifar10-jpeg/train collages, score it, cache weights + JSON."""
    from zoo.datasets import load_split
    from zoo.registry import load_member

    torch.manual_seed(config.seed)
    model = CollageCNN()
    warm = None
    if config.warm_start:
        member = load_member(WARM_START)
        model.load_single_image_head(member.model.state_dict())
        warm = {"name": WARM_START, "weights_sha256": member.weights_sha}
    train = load_split(DATASET, "train")
    started, cpu_started = time.perf_counter(), time.process_time()
    train_collage_model(model, train.images, train.labels, config)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    model = model.to(memory_format=torch.contiguous_format).eval()
    scores = score(model, config.grid)
    reference = {"name": WARM_START, "test_accuracy": _single_image_accuracy(WARM_START)}
    record = CollageTrainRecord(
        config=config,
        train_seconds=round(seconds, 2),
        train_cpu_seconds=round(cpu_seconds, 2),
        train_images=len(train),
        test_accuracy=scores[0].mean,
        cell_accuracy=scores,
        single_image_reference=reference,
        params=sum(p.numel() for p in model.parameters()),
        mflops_per_collage={str(g): collage_macs(model, g) for g in (2, 3)},
        warm_start=warm,
        command=train_command(config),
    )
    weights_file().parent.mkdir(parents=True, exist_ok=True)
    tmp = weights_file().with_suffix(f".{os.getpid()}.tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, weights_file())
    record_file().write_text(json.dumps(record.model_dump(), indent=2) + "\n")
    return record


def _single_image_accuracy(name: str) -> float | None:
    from zoo.train import read_record

    record = read_record(name)
    return None if record is None else record.test_accuracy


def read_cached_record() -> CollageTrainRecord | None:
    if not record_file().exists() or not weights_file().exists():
        return None
    return CollageTrainRecord.model_validate_json(record_file().read_text())


def ship(weights_dir: Path | None = None):
    """Copy the cached collage-CNN run into zoo/weights/ with its manifest entry."""
    from zoo.hashing import state_sha256
    from zoo.shipped import (
        MAX_FILE_BYTES,
        WEIGHTS_DIR,
        ShippedEntry,
        file_sha256,
        read_manifest,
        write_manifest,
    )

    record = read_cached_record()
    if record is None:
        raise FileNotFoundError("no cached collage_cnn run to ship; run coe zoo train-collage")
    state = torch.load(weights_file(), map_location="cpu", weights_only=True)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    if buffer.tell() > MAX_FILE_BYTES:
        raise ValueError(f"{MODEL_NAME}: {buffer.tell()} bytes exceed {MAX_FILE_BYTES}")
    directory = weights_dir or WEIGHTS_DIR
    path = directory / f"{MODEL_NAME}.pt"
    path.write_bytes(buffer.getvalue())
    model = CollageCNN()
    model.load_state_dict(state)
    entry = ShippedEntry(
        name=MODEL_NAME,
        file=path.name,
        sha256=file_sha256(path),
        bytes=path.stat().st_size,
        dtype="float32",
        state_sha256=state_sha256(model),
        test_accuracy=record.test_accuracy,
        record=record.model_dump(),
        command=record.command,
    )
    entries = read_manifest(weights_dir)
    entries[MODEL_NAME] = entry
    write_manifest(entries, weights_dir)
    return entry


def load_collage_model() -> CollageCNN:
    """The collage CNN with its weights: a cached `train-collage` run, else the shipped file."""
    from zoo.shipped import load_shipped_state, shipped_file

    model = CollageCNN()
    if weights_file().exists():
        state = torch.load(weights_file(), map_location="cpu", weights_only=True)
    elif shipped_file(MODEL_NAME) is not None:
        state = load_shipped_state(MODEL_NAME)
    else:
        raise FileNotFoundError(
            f"no {MODEL_NAME} weights shipped or cached; run coe zoo train-collage"
        )
    model.load_state_dict(state)
    return model.eval()

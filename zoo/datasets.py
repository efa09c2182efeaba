"""Datasets as uint8 NHWC arrays, decoded once and cached.

Everything downstream (training, evaluation, the planner, load tests) wants the same pixels
as plain numpy, so the JPEG folders are decoded a single time and cached under
cache_root()/datasets, keyed by a hash of the folder listing (new files -> new cache).
The calibration/test halves of the JPEG test folder are a deterministic stratified split so
thresholds are always chosen on images the reported accuracy never sees.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from foundation.paths import cache_root, require_asset

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
DATASET_SPLITS: dict[str, tuple[str, ...]] = {
    "cifar10-jpeg": ("train", "calibration", "test", "all"),
    "cifar10-lossless-200": ("all",),
}
SPLIT_SEED = 20240601
JPEG_HINT = "Expected CIFAR-10 JPEGs in ImageFolder layout (<split>/<class>/NNNN.jpg)."


@dataclass(frozen=True)
class Split:
    """One split: images uint8 (N,32,32,3), labels int64 (N,), class names, source paths."""

    dataset: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    paths: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def validate(dataset: str, split: str) -> None:
    """Raise ValueError naming the valid datasets / splits."""
    if dataset not in DATASET_SPLITS:
        valid = ", ".join(DATASET_SPLITS)
        raise ValueError(f"unknown dataset {dataset!r}; valid datasets: {valid}")
    if split not in DATASET_SPLITS[dataset]:
        valid = ", ".join(DATASET_SPLITS[dataset])
        raise ValueError(f"unknown split {split!r} for dataset {dataset!r}; valid splits: {valid}")


def stratified_halves(labels: np.ndarray, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into two disjoint halves with (floor/ceil) half of every class in each.

    Returns sorted index arrays (calibration, test); deterministic for a given seed.
    """
    rng = np.random.default_rng(seed)
    first, second = [], []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        shuffled = rng.permutation(members)
        half = len(shuffled) // 2
        first.append(shuffled[:half])
        second.append(shuffled[half:])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(second))


def load_split(dataset: str, split: str) -> Split:
    """Load `split` of `dataset` as uint8 NHWC numpy (see DATASET_SPLITS for valid names)."""
    validate(dataset, split)
    if dataset == "cifar10-lossless-200":
        return _load_lossless()
    folder = "train" if split == "train" else "test"
    images, labels, paths, classes = _load_jpeg_folder(folder)
    if split in ("train", "all"):
        return Split(dataset, split, images, labels, classes, paths)
    calibration, test = stratified_halves(labels)
    index = calibration if split == "calibration" else test
    return Split(
        dataset,
        split,
        images[index],
        labels[index],
        classes,
        tuple(paths[i] for i in index),
    )


def _load_lossless() -> Split:
    root = require_asset("data/cifar10-lossless-200", "Expected X.npy and y.npy there.")
    x = np.load(require_asset(root / "X.npy"))
    y = np.load(require_asset(root / "y.npy")).astype(np.int64)
    images = np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
    paths = tuple(f"X.npy[{i}]" for i in range(len(y)))
    return Split("cifar10-lossless-200", "all", images, y, CIFAR10_CLASSES, paths)


def _listing_hash(samples: list[tuple[str, int]], root: Path) -> str:
    digest = hashlib.sha256()
    for path, label in samples:
        digest.update(f"{os.path.relpath(path, root)}\t{label}\n".encode())
    return digest.hexdigest()[:16]


def _load_jpeg_folder(folder: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple]:
    """Decode <assets>/data/cifar10-jpeg/<folder> once; later calls read the .npz cache."""
    from torchvision.datasets import ImageFolder

    root = require_asset(f"data/cifar10-jpeg/{folder}", JPEG_HINT)
    listing = ImageFolder(str(root))
    classes = tuple(listing.classes)
    key = _listing_hash(listing.samples, root)
    cache_file = cache_root() / "datasets" / f"cifar10-jpeg-{folder}-{key}.npz"
    if cache_file.exists():
        with np.load(cache_file) as cached:
            return (
                cached["images"],
                cached["labels"],
                tuple(json.loads(str(cached["paths"]))),
                classes,
            )
    images, labels = _decode(listing.samples, desc=f"decoding cifar10-jpeg/{folder}")
    paths = tuple(os.path.relpath(p, root) for p, _ in listing.samples)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_name(f".{cache_file.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, images=images, labels=labels, paths=np.array(json.dumps(paths)))
    os.replace(tmp, cache_file)  # atomic: concurrent readers never see half a file
    return images, labels, paths, classes


def _decode(samples: list[tuple[str, int]], desc: str) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image
    from tqdm import tqdm

    first = np.asarray(Image.open(samples[0][0]).convert("RGB"))
    images = np.empty((len(samples), *first.shape), dtype=np.uint8)
    labels = np.empty(len(samples), dtype=np.int64)
    for i, (path, label) in enumerate(tqdm(samples, desc=desc, unit="img", mininterval=1.0)):
        with Image.open(path) as image:
            images[i] = np.asarray(image.convert("RGB"))
        labels[i] = label
    return images, labels

"""Request bodies for load tests: the raw CIFAR-10-JPEG test files, with their labels.

The bytes are sent exactly as they are stored (no decode/re-encode), so the server sees
what a client would upload and accuracy is measured on the same images as everywhere else.
Order is deterministic and interleaves the classes (airplane 0000, automobile 0000, ...,
airplane 0001, ...), so any prefix of the list is class-balanced.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from foundation.paths import assets_root, require_asset

JPEG_TEST_DIR = Path("data/cifar10-jpeg/test")


@dataclass(frozen=True)
class RequestImage:
    """One request body and the label a correct answer must carry."""

    index: int
    path: str
    body: bytes
    label: int
    class_name: str


def list_test_files(root: Path | None = None) -> tuple[list[tuple[Path, int]], list[str]]:
    """(path, label) pairs in interleaved class order, and the sorted class names."""
    base = Path(root) if root is not None else require_asset(
        JPEG_TEST_DIR, hint=f"expected <class>/NNNN.jpg folders under {assets_root()}"
    )
    if not base.is_dir():
        raise FileNotFoundError(f"image folder not found: {base}")
    class_dirs = sorted(p for p in base.iterdir() if p.is_dir())
    if not class_dirs:
        raise FileNotFoundError(f"no class folders in {base} (expected <class>/*.jpg)")
    files = [(p, label) for label, d in enumerate(class_dirs) for p in sorted(d.glob("*.jpg"))]
    return _interleave(files, len(class_dirs)), [d.name for d in class_dirs]


def _interleave(files: list[tuple[Path, int]], num_classes: int) -> list[tuple[Path, int]]:
    """Round-robin over the classes (order within a class kept): any prefix is balanced."""
    per_class: list[list[Path]] = [[] for _ in range(num_classes)]
    for path, label in files:
        per_class[label].append(path)
    ordered: list[tuple[Path, int]] = []
    for rank in range(max(len(paths) for paths in per_class)):
        for label, paths in enumerate(per_class):
            if rank < len(paths):
                ordered.append((paths[rank], label))
    return ordered


def load_request_images(
    limit: int | None = 1000, root: Path | None = None, split: str | None = None
) -> list[RequestImage]:
    """Read up to `limit` JPEG test files (all if None) as request bodies with labels.

    `split` ("test" or "calibration") keeps only the files of that half of the test folder,
    so a load test can report accuracy on images the planner never calibrated on.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"images limit must be >= 1, got {limit}")
    files, class_names = list_test_files(root)
    if split is not None:
        files = _interleave(_only_split(files, split, root), len(class_names))
    if limit is not None:
        files = files[:limit]
    return [
        RequestImage(
            index=i, path=str(path), body=path.read_bytes(), label=label,
            class_name=class_names[label],
        )
        for i, (path, label) in enumerate(files)
    ]


def _only_split(
    files: list[tuple[Path, int]], split: str, root: Path | None
) -> list[tuple[Path, int]]:
    """The files of one half (calibration/test) of the JPEG test folder, order kept."""
    from zoo.datasets import load_split

    base = Path(root) if root is not None else assets_root() / JPEG_TEST_DIR
    keep = set(load_split("cifar10-jpeg", split).paths)
    return [(path, label) for path, label in files if str(path.relative_to(base)) in keep]

"""Weights of the project's own small CNNs shipped in the repository (zoo/weights/).

`zoo/weights/manifest.json` lists, per model, the weights file, its sha256 and size, the
dtype it is stored in (float32, or float16 when float32 would exceed 1 MB; either loads
back as float32), the full training record and the `coe zoo train` command that reproduces
it. Loading verifies the sha256 and names the file on a mismatch.

Precedence (see `zoo.registry`): a `coe zoo train` run writes cache_root()/zoo/<name>.pt;
when that copy exists and fits today's architecture it wins, because the user retrained
explicitly. Otherwise the shipped file is used, so a first run with an empty cache needs no
training. `coe zoo train --ship` (maintainers) copies a cached run into zoo/weights/.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    import torch

    from zoo.train import TrainRecord

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MANIFEST_NAME = "manifest.json"
MAX_FILE_BYTES = 1_000_000


class ShippedWeightsError(ValueError):
    """A shipped weights file is missing or does not match its manifest sha256."""


class ShippedEntry(BaseModel):
    """One row of zoo/weights/manifest.json."""

    name: str
    file: str
    sha256: str = Field(description="sha256 of the file's bytes")
    bytes: int
    dtype: str = Field(description="storage dtype; loaded back as float32")
    state_sha256: str = Field(description="zoo.hashing.state_sha256 of the loaded model")
    test_accuracy: float = Field(description="of the shipped (loaded) weights, test split")
    record: dict = Field(description="the TrainRecord of the training run")
    command: str


def manifest_path(weights_dir: Path | None = None) -> Path:
    return (weights_dir or WEIGHTS_DIR) / MANIFEST_NAME


def read_manifest(weights_dir: Path | None = None) -> dict[str, ShippedEntry]:
    path = manifest_path(weights_dir)
    if not path.exists():
        return {}
    payload = json.loads(path.read_text())
    return {name: ShippedEntry.model_validate(row) for name, row in payload["models"].items()}


def write_manifest(entries: dict[str, ShippedEntry], weights_dir: Path | None = None) -> None:
    path = manifest_path(weights_dir)
    payload = {
        "about": (
            "Weights of the project's small CNNs, trained by `coe zoo train` (zoo/train.py) "
            "on cifar10-jpeg/train. sha256 is over the file bytes; loading verifies it. "
            "Files are torch.save'd state dicts; float16 ones load back as float32."
        ),
        "models": {name: entries[name].model_dump() for name in sorted(entries)},
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def shipped_entry(name: str, weights_dir: Path | None = None) -> ShippedEntry | None:
    return read_manifest(weights_dir).get(name)


def shipped_file(name: str, weights_dir: Path | None = None) -> Path | None:
    """The shipped weights file of `name`, if the manifest lists one and it exists."""
    entry = shipped_entry(name, weights_dir)
    if entry is None:
        return None
    path = (weights_dir or WEIGHTS_DIR) / entry.file
    return path if path.exists() else None


def shipped_record(name: str, weights_dir: Path | None = None) -> TrainRecord | None:
    """The training record of the shipped weights, with the shipped file's test accuracy."""
    from zoo.train import TrainRecord

    entry = shipped_entry(name, weights_dir)
    if entry is None or shipped_file(name, weights_dir) is None:
        return None
    record = TrainRecord.model_validate(entry.record)
    return record.model_copy(update={"test_accuracy": entry.test_accuracy})


def load_shipped_state(name: str, weights_dir: Path | None = None) -> dict[str, torch.Tensor]:
    """The verified float32 state dict of `name` from zoo/weights/."""
    import torch

    entry = shipped_entry(name, weights_dir)
    if entry is None:
        raise ShippedWeightsError(f"{manifest_path(weights_dir)} lists no weights for {name!r}")
    path = (weights_dir or WEIGHTS_DIR) / entry.file
    if not path.exists():
        raise ShippedWeightsError(f"shipped weights file {path} for {name} is missing")
    actual = file_sha256(path)
    if actual != entry.sha256:
        raise ShippedWeightsError(
            f"shipped weights file {path} has sha256 {actual}, but {manifest_path(weights_dir)} "
            f"says {entry.sha256}; the file is corrupt or was replaced without updating the "
            f"manifest (restore it from git, or retrain: {entry.command})"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def ship(name: str, weights_dir: Path | None = None) -> ShippedEntry:
    """Copy the cached `coe zoo train` run of `name` into zoo/weights/ and the manifest.

    Stores float32 when the file fits in MAX_FILE_BYTES, else float16; the shipped weights
    are re-scored on the test split as loaded (float32 again).
    """
    import io

    import torch

    from zoo.datasets import load_split
    from zoo.hashing import state_sha256
    from zoo.small_cnns import SMALL_CNNS
    from zoo.train import DATASET, accuracy, read_cached_record, weights_file

    record = read_cached_record(name)
    if record is None:
        raise FileNotFoundError(f"no cached training run of {name} to ship; run coe zoo train")
    state = torch.load(weights_file(name), map_location="cpu", weights_only=True)
    for dtype in (torch.float32, torch.float16):
        cast = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        buffer = io.BytesIO()
        torch.save(cast, buffer)
        if buffer.tell() <= MAX_FILE_BYTES:
            break
    else:
        raise ValueError(f"{name}: weights exceed {MAX_FILE_BYTES} bytes even in float16")
    directory = weights_dir or WEIGHTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.pt"
    path.write_bytes(buffer.getvalue())
    model = SMALL_CNNS[name]()
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in cast.items()})
    model.eval()
    test = load_split(DATASET, "test")
    entry = ShippedEntry(
        name=name,
        file=path.name,
        sha256=file_sha256(path),
        bytes=path.stat().st_size,
        dtype=str(dtype).removeprefix("torch."),
        state_sha256=state_sha256(model),
        test_accuracy=accuracy(model, test.images, test.labels),
        record=record.model_dump(),
        command=record.command,
    )
    entries = read_manifest(weights_dir)
    entries[name] = entry
    write_manifest(entries, weights_dir)
    return entry

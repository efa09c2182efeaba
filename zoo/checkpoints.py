"""Safe checkpoint reading: weights-only, never an arbitrary-code pickle.

The public CIFAR ResNets ship as legacy (non-zip) `torch.save` pickles of
`{'best_prec1': float, 'state_dict': OrderedDict}`. torch's weights-only unpickler reads
that legacy format too (checked with torch 2.14: tensors, OrderedDict and a float are all
on its allow-list), so there is never a reason to fall back to `weights_only=False`,
which would run any code a tampered file carries. Each legacy file is converted ONCE into
a plain weights-only state dict in the cache (zip format, keyed by the source's sha256),
and later loads read that copy. A file the weights-only reader refuses is an error.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from foundation.paths import cache_root

CONVERTED_DIR = "checkpoints"


class UnsafeCheckpointError(ValueError):
    """A checkpoint holds something other than tensors and plain containers."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def converted_path(path: Path, sha: str) -> Path:
    return cache_root() / CONVERTED_DIR / f"{path.stem}-{sha[:16]}.pt"


def load_weights_only(path: Path) -> dict:
    """`torch.load(weights_only=True)`, its refusal turned into an error naming the file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the unpickler raises several types
        raise UnsafeCheckpointError(
            f"{path}: not loadable as weights only ({type(exc).__name__}: {exc}); "
            "refusing to unpickle it with weights_only=False"
        ) from None


def read_state(path: str | Path) -> dict:
    """`{'state_dict': ..., **plain metadata}` of a checkpoint, via the converted cache copy.

    A bare state dict is wrapped as `{'state_dict': it}`, so callers see one shape.
    """
    path = Path(path)
    target = converted_path(path, file_sha256(path))
    if target.exists():
        return load_weights_only(target)
    raw = load_weights_only(path)
    state = raw.get("state_dict", raw) if isinstance(raw, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UnsafeCheckpointError(f"{path}: no state dict of tensors found")
    converted = {"state_dict": dict(state)}
    for key, value in (raw.items() if state is not raw else ()):
        if key != "state_dict" and isinstance(value, int | float | str):
            converted[key] = value
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    torch.save(converted, partial)  # zip format, tensors + plain values only
    os.replace(partial, target)  # atomic: concurrent replicas never read half a file
    return converted

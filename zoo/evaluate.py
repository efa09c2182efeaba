"""Accuracy of one member on one dataset split, cached so `coe zoo list` can show it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel

from foundation.paths import cache_root


class EvalResult(BaseModel):
    """What `coe zoo eval --json` prints."""

    model: str
    dataset: str
    split: str
    n: int
    accuracy: float
    weights_sha: str


def _cache_file(model: str, dataset: str, split: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
    return cache_root() / "evals" / f"{safe}--{dataset}--{split}.json"


def read_cached_result(model: str, dataset: str, split: str) -> EvalResult | None:
    path = _cache_file(model, dataset, split)
    if not path.exists():
        return None
    try:
        return EvalResult.model_validate_json(path.read_text())
    except ValueError:
        return None


def evaluate(
    spec: str, dataset: str, split: str, batch_size: int = 500, progress: bool = True
) -> EvalResult:
    """Top-1 accuracy of `spec` on `dataset`/`split` (tqdm bar on stderr), cached as JSON."""
    import numpy as np
    from tqdm import tqdm

    from zoo.datasets import load_split, validate
    from zoo.registry import load_member

    validate(dataset, split)
    member = load_member(spec)
    data = load_split(dataset, split)
    correct = 0
    bar = tqdm(total=len(data), desc=f"eval {spec}", unit="img", disable=not progress)
    for start in range(0, len(data), batch_size):
        probs = member.predict_probs(data.images[start : start + batch_size], batch_size)
        correct += int((np.argmax(probs, axis=1) == data.labels[start : start + batch_size]).sum())
        bar.update(len(probs))
    bar.close()
    result = EvalResult(
        model=spec,
        dataset=dataset,
        split=split,
        n=len(data),
        accuracy=correct / len(data),
        weights_sha=member.weights_sha,
    )
    path = _cache_file(spec, dataset, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result.model_dump(), indent=2) + "\n")
    os.replace(tmp, path)
    return result

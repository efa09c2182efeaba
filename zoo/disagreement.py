"""How differently the pool's models err: accuracy and pairwise disagreement on one split.

Disagreement of two models = the fraction of images on which their argmax labels differ.
Agreement-based exits only pay off when cheap members disagree where they are wrong, so
this matrix is the quick check of a pool's diversity. Each member's labels are cached under
cache_root()/evals/labels/, keyed by the weights sha256, so a retrained model is re-run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from foundation.paths import cache_root


class DisagreementReport(BaseModel):
    """What `coe zoo disagreement --json` prints."""

    dataset: str
    split: str
    n: int
    models: list[str]
    accuracy: dict[str, float]
    weights_sha: dict[str, str]
    disagreement: list[list[float]]  # [i][j]: fraction of images where models i, j differ


def disagreement_matrix(labels: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """(M, M) fraction of images on which each pair of models' predicted labels differ."""
    stacked = np.asarray(labels)
    if stacked.ndim != 2:
        raise ValueError(f"expected (models, images) labels, got shape {stacked.shape}")
    if stacked.shape[1] == 0:
        raise ValueError("no images")
    return (stacked[:, None, :] != stacked[None, :, :]).mean(axis=2)


def _labels_file(name: str, sha: str, dataset: str, split: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return cache_root() / "evals" / "labels" / f"{safe}-{sha[:16]}--{dataset}--{split}.npy"


def predicted_labels(spec: str, dataset: str, split: str) -> tuple[np.ndarray, str]:
    """Argmax labels of `spec` on `dataset`/`split` (cached by weights sha) + the sha."""
    from zoo.datasets import load_split
    from zoo.registry import load_member

    member = load_member(spec)
    path = _labels_file(spec, member.weights_sha, dataset, split)
    if path.exists():
        return np.load(path), member.weights_sha
    data = load_split(dataset, split)
    labels = member.predict_probs(data.images, batch_size=500).argmax(axis=1).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, labels)
    os.replace(tmp, path)
    return labels, member.weights_sha


def build_report(
    labels: Mapping[str, np.ndarray],
    truth: np.ndarray,
    dataset: str,
    split: str,
    shas: Mapping[str, str] | None = None,
) -> DisagreementReport:
    names = list(labels)
    matrix = disagreement_matrix([labels[n] for n in names])
    return DisagreementReport(
        dataset=dataset,
        split=split,
        n=int(len(truth)),
        models=names,
        accuracy={n: round(float((labels[n] == truth).mean()), 4) for n in names},
        weights_sha=dict(shas or {}),
        disagreement=[[round(float(v), 4) for v in row] for row in matrix],
    )


def pool_disagreement(
    models: Sequence[str], dataset: str = "cifar10-jpeg", split: str = "test"
) -> DisagreementReport:
    """Accuracy and pairwise disagreement of `models` on `dataset`/`split`."""
    from zoo.datasets import load_split, validate

    validate(dataset, split)
    truth = load_split(dataset, split).labels
    labels, shas = {}, {}
    for name in models:
        labels[name], shas[name] = predicted_labels(name, dataset, split)
    return build_report(labels, truth, dataset, split, shas)

"""Every pool member's softmax outputs on a split, computed once and cached.

Why: the search replays thousands of cascades; running the networks once per (member, split)
and reusing the arrays makes planning cost seconds, not hours. The cache key includes the
weights sha, so retrained weights never reuse stale predictions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from foundation.paths import cache_root


def cache_path(model: str, weights_sha: str, dataset: str, split: str) -> Path:
    safe = model.replace("/", "_").replace(":", "_")
    folder = cache_root() / "predictions" / dataset / split
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{safe}-{weights_sha[:16]}.npy"


def member_probs(
    model: str, dataset: str, split: str, images: np.ndarray | None = None, batch_size: int = 256
) -> np.ndarray:
    """(n, classes) float32 softmax of `model` on `dataset/split`, from cache when possible."""
    from zoo.registry import load_member

    member = load_member(model)
    path = cache_path(model, member.weights_sha, dataset, split)
    if path.exists():
        probs = np.load(path)
        if images is None or probs.shape[0] == images.shape[0]:
            return probs
    if images is None:
        from zoo.datasets import load_split

        images = load_split(dataset, split).images
    probs = member.predict_probs(images, batch_size=batch_size).astype(np.float32)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, probs)
    tmp.replace(path)
    return probs


def pool_probs(
    models: list[str], dataset: str, split: str, progress: bool = True
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Predictions of every member on one split, and the split's labels."""
    from tqdm import tqdm

    from zoo.datasets import load_split

    data = load_split(dataset, split)
    probs = {}
    for model in tqdm(models, desc=f"predictions {dataset}/{split}", disable=not progress):
        probs[model] = member_probs(model, dataset, split, images=data.images)
    return probs, np.asarray(data.labels, dtype=np.int64)

"""The batch sizes a member sees at a request rate, as Ray Serve's `@serve.batch` forms them.

Why: on a GPU a call's floors are paid per batch, so the cost per image depends on how full
the batches are, and live traffic at a modest rate runs batches of 1 to 3, not the 8 a
profile at a fixed batch assumes. Serve's batcher opens a batch at its first request, keeps
it open for `batch_wait_timeout_s` or until `max_batch_size` requests are in, and forms the
next batch at once while the previous one runs (the forward pass does not block it). With
Poisson arrivals at rate r the size is therefore 1 + the arrivals in the window, capped:
P(size = k) = Poisson(k - 1; r * timeout) for k < max, the rest at max.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping


def batch_size_distribution(
    rate_per_s: float, max_batch_size: int, batch_wait_timeout_s: float
) -> dict[int, float]:
    """Fraction of batches of each size for Poisson arrivals at `rate_per_s`."""
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
    if rate_per_s < 0 or batch_wait_timeout_s < 0:
        raise ValueError("rate and batch_wait_timeout_s must be >= 0")
    mean = rate_per_s * batch_wait_timeout_s
    dist: dict[int, float] = {}
    left = 1.0
    for size in range(1, max_batch_size):
        p = math.exp(-mean) * mean ** (size - 1) / math.factorial(size - 1)
        dist[size] = p
        left -= p
    dist[max_batch_size] = dist.get(max_batch_size, 0.0) + max(left, 0.0)
    return {k: v for k, v in dist.items() if v > 0}


def mean_batch_size(dist: Mapping[int, float]) -> float:
    """Average size of a batch (not of the batch an image sits in)."""
    return sum(k * p for k, p in dist.items()) / sum(dist.values())


def seconds_per_image(dist: Mapping[int, float], call_seconds: Callable[[int], float]) -> float:
    """Average device-seconds per image when batches follow `dist`: total time / images."""
    images = sum(k * p for k, p in dist.items())
    return sum(p * call_seconds(k) for k, p in dist.items()) / images

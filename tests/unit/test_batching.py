"""Batch sizes at a rate: the closed form against a simulated Poisson arrival process."""

import numpy as np
import pytest

from planner.batching import batch_size_distribution, mean_batch_size, seconds_per_image


def simulate_serve_batcher(rate, max_batch, wait_s, n=200_000, seed=0):
    """Serve's batcher on Poisson arrivals: a batch opens at its first request and closes
    after wait_s or at max_batch requests; the next one opens at the next arrival."""
    arrivals = np.cumsum(np.random.default_rng(seed).exponential(1 / rate, n))
    sizes, i = [], 0
    while i < n:
        window_end = arrivals[i] + wait_s
        inside = int(np.searchsorted(arrivals, window_end, side="right")) - i
        size = min(inside, max_batch)
        sizes.append(size)
        i += size
    values, counts = np.unique(sizes, return_counts=True)
    return dict(zip(values.tolist(), (counts / counts.sum()).tolist(), strict=True))


@pytest.mark.parametrize(("rate", "max_batch", "wait_s"),
                         [(20, 8, 0.005), (400, 8, 0.005), (3000, 8, 0.005), (50, 4, 0.05)])
def test_closed_form_matches_a_simulated_arrival_process(rate, max_batch, wait_s):
    predicted = batch_size_distribution(rate, max_batch, wait_s)
    simulated = simulate_serve_batcher(rate, max_batch, wait_s)
    assert sum(predicted.values()) == pytest.approx(1.0)
    for size in set(predicted) | set(simulated):
        assert predicted.get(size, 0.0) == pytest.approx(simulated.get(size, 0.0), abs=0.01)
    assert mean_batch_size(predicted) == pytest.approx(mean_batch_size(simulated), rel=0.02)


def test_per_image_seconds_weight_batches_by_their_images():
    # Half the batches hold 1 image (1 s), half hold 3 (2 s): 3 s for 4 images.
    assert seconds_per_image({1: 0.5, 3: 0.5}, lambda k: {1: 1.0, 3: 2.0}[k]) == 0.75


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="max_batch_size"):
        batch_size_distribution(10, 0, 0.01)
    with pytest.raises(ValueError, match="rate"):
        batch_size_distribution(-1, 8, 0.01)

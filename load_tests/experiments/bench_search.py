"""Benchmark: how long the planner's search takes on a pool of 8 over 5,000 calibration images.

Uses real cached predictions when at least 8 members have them for cifar10-jpeg/calibration,
else synthetic softmax arrays of the same shape (the report says which). Both policy families
(agreement and confidence) are searched with the default space (3 tiers, 3 members each).

    .venv/bin/python -m load_tests.experiments.bench_search [--out reports/bench_search.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np


def _cached_real(dataset: str, split: str, want: int) -> tuple[dict, np.ndarray] | None:
    from foundation.paths import cache_root

    folder = cache_root() / "predictions" / dataset / split
    files = sorted(folder.glob("*.npy")) if folder.exists() else []
    files = [f for f in files if not f.name.endswith(".tmp.npy")]
    if len(files) < want:
        return None
    from zoo.datasets import load_split

    labels = np.asarray(load_split(dataset, split).labels)
    probs = {f.stem.rsplit("-", 1)[0]: np.load(f) for f in files[:want]}
    if any(p.shape[0] != labels.shape[0] for p in probs.values()) or len(probs) < want:
        return None
    return probs, labels


def _synthetic(members: int, n: int, classes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    probs = {}
    for i in range(members):
        logits = rng.normal(size=(n, classes)) * 1.5
        logits[np.arange(n), labels] += 1.5 + 0.25 * i
        p = np.exp(logits - logits.max(1, keepdims=True))
        probs[f"synthetic{i}"] = (p / p.sum(1, keepdims=True)).astype(np.float32)
    return probs, labels


def main(argv: list[str] | None = None) -> int:
    from planner.costs import DEFAULT_TIERS_GPU, uniform_cost_table
    from planner.search import SearchSpace, search_cascades

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/bench_search.json")
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("--synthetic", action="store_true", help="skip cached predictions")
    args = parser.parse_args(argv)

    real = None if args.synthetic else _cached_real("cifar10-jpeg", "calibration", args.members)
    probs, labels = real if real else _synthetic(args.members, args.examples, 10)
    pool = list(probs)
    # Search speed does not depend on the cost values; use a spread like the zoo's.
    cpu_ms = {m: 0.2 * (i + 1) ** 1.5 for i, m in enumerate(pool)}
    costs = uniform_cost_table(cpu_ms, DEFAULT_TIERS_GPU)
    timings = {}
    sizes = {}
    for policy in ("agreement", "confidence"):
        start = time.perf_counter()
        cands = search_cascades(probs, labels, pool, costs, DEFAULT_TIERS_GPU, policy,
                                SearchSpace(), progress=True)
        timings[policy] = time.perf_counter() - start
        sizes[policy] = {"enumerated": cands.enumerated, "pareto_kept": int(cands.accuracy.size)}
    total = sum(timings.values())
    report = {
        "benchmark": f"planner search, pool of {len(pool)}, up to 3 tiers x 3 members",
        "data": "real cached predictions" if real else "synthetic softmax (same shape)",
        "members": len(pool),
        "examples": int(labels.shape[0]),
        "seconds_by_policy": {k: round(v, 3) for k, v in timings.items()},
        "seconds_total": round(total, 3),
        "goal_seconds": 60,
        "meets_goal": total <= 60,
        "cascades": sizes,
        "host": {"cpus": os.cpu_count(), "machine": platform.machine(),
                 "python": platform.python_version(), "numpy": np.__version__},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Exhaustive, vectorised search over cascades of ensembles built from a model pool.

Why vectorised: a pool of 8 gives 92 possible tiers (1-3 members), ~10^5-10^7 ordered
cascades of up to 3 tiers once thresholds are counted. Each tier's decisions do not depend on
what ran before it (the router applies it to the undecided subset image by image), so every
(tier, threshold) is decided ONCE on the whole calibration split with
`cascade.policies.decide_tier`; a cascade's accuracy is then a sum of masked counts, done as
matrix products, and its cost is additive over tiers weighted by the fraction that reaches
each tier. Only Pareto-optimal cascades (accuracy vs device-ms, and vs dollars) are kept.
The chosen cascade is re-run through `planner.simulate` to confirm the numbers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from cascade.policies import ExitPolicyName, decide_tier
from planner.costs import CostTable, cheapest_class
from planner.frontier import pareto_mask
from planner.simulate import TierSpec

FAMILY_COMBINE = {"agreement": "vote", "confidence": "mean"}


@dataclass(frozen=True)
class SearchSpace:
    """Which cascades are enumerated."""

    max_tiers: int = 3
    max_members: int = 3
    confidence_levels: int = 10  # thresholds = quantiles of the tier's confidence
    max_exhaustive_pool: int = 8  # larger pools are first reduced greedily
    max_worst_case_ms: float | None = None  # drop cascades whose all-tiers cost exceeds this
    slo_p99_ms: float | None = None  # drop cascades whose all-tiers predicted latency exceeds it
    choose_classes: bool = False  # each tier on its cheapest class, not tiers_gpu by index


# Fraction of requests assumed to reach tiers 1 and 2 while searching (it sets their batch
# sizes); the chosen plan is then re-priced by `simulate` with its real reach.
SEARCH_REACH = (1.0, 0.3, 0.1)


@dataclass
class Candidates:
    """Searched cascades of one policy family (Pareto-pruned), as flat arrays.

    structure[k] = (option of tier 0, option of tier 1, subset of the last tier); -1 = absent.
    A 1-tier cascade is (-1, -1, s); 2 tiers (o, -1, s); 3 tiers (o1, o2, s).
    """

    policy: ExitPolicyName
    pool: tuple[str, ...]
    subsets: list[tuple[str, ...]]
    options: list[tuple[int, float]]  # (subset index, threshold) for non-last tiers
    tiers_gpu: tuple[str, ...]
    gpu_of: np.ndarray  # [subset, position] -> index into tiers_gpu: the class of that tier
    n: int
    correct_count: np.ndarray
    device_ms: np.ndarray
    usd: np.ndarray
    worst_ms: np.ndarray
    mflops: np.ndarray
    structure: np.ndarray
    enumerated: int  # cascades looked at before pruning

    @property
    def accuracy(self) -> np.ndarray:
        return self.correct_count / self.n

    def tiers(self, k: int) -> list[TierSpec]:
        """Decode candidate k into deployable tiers (the last tier always answers)."""
        combine = FAMILY_COMBINE[self.policy]
        o1, o2, last = (int(v) for v in self.structure[k])
        specs: list[TierSpec] = []
        for option in (o1, o2):
            if option < 0:
                continue
            s, threshold = self.options[option]
            specs.append(
                TierSpec(self.subsets[s], self.policy, threshold, combine,
                         self.tiers_gpu[self.gpu_of[s, len(specs)]])
            )
        specs.append(
            TierSpec(self.subsets[last], self.policy, 0.0, combine,
                     self.tiers_gpu[self.gpu_of[last, len(specs)]])
        )
        return specs


def reduce_pool(
    pool: Sequence[str], accuracy: Mapping[str, float], cost_ms: Mapping[str, float], size: int
) -> list[str]:
    """Greedy pool reduction for pools beyond exhaustive search: cost/accuracy Pareto members
    first, then the most accurate of the rest."""
    if len(pool) <= size:
        return list(pool)
    names = list(pool)
    mask = pareto_mask(
        np.array([cost_ms[m] for m in names]), np.array([accuracy[m] for m in names])
    )
    chosen = [m for m, keep in zip(names, mask, strict=True) if keep][:size]
    for m in sorted(names, key=lambda name: -accuracy[name]):
        if len(chosen) >= size:
            break
        if m not in chosen:
            chosen.append(m)
    return [m for m in names if m in chosen]


def place_tiers(
    subsets: Sequence[tuple[str, ...]], costs: CostTable, tiers_gpu: Sequence[str],
    space: SearchSpace,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The class of every (subset, tier position) and its device-ms, $ and latency there.

    By index: position p runs on tiers_gpu[p]. With `choose_classes`: on the class of
    `tiers_gpu` where the tier is cheapest in $ among those whose predicted latency meets the
    SLO on its own (the whole path is checked per cascade); when none meets it, the fastest.
    """
    positions = range(space.max_tiers)
    shape = (len(subsets), space.max_tiers)
    gpu_of = np.zeros(shape, dtype=np.int64)
    ms, usd, lat = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for s, members in enumerate(subsets):
        for p in positions:
            reach = SEARCH_REACH[min(p, len(SEARCH_REACH) - 1)]
            if space.choose_classes:
                index = tiers_gpu.index(
                    cheapest_class(costs, members, tiers_gpu, reach, space.slo_p99_ms)
                )
            else:
                index = min(p, len(tiers_gpu) - 1)
            gpu = tiers_gpu[index]
            gpu_of[s, p] = index
            ms[s, p] = costs.tier_ms(members, gpu, reach)
            usd[s, p] = costs.tier_usd(members, gpu, reach)
            lat[s, p] = costs.tier_latency_ms(members, gpu, reach)
    return gpu_of, ms, usd, lat


def _thresholds(policy: ExitPolicyName, size: int, confidence: np.ndarray, levels: int) -> list:
    if policy == "agreement":
        return [j / size for j in range(2, size + 1)]
    qs = np.arange(1, levels + 1) / (levels + 1)
    return sorted({float(v) for v in np.quantile(confidence, qs)})


class _Chunks:
    """Collects Pareto-pruned slices so memory stays small while millions are enumerated."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.enumerated = 0

    def add(self, correct, ms, usd, worst, mflops, structure) -> None:
        self.enumerated += int(correct.size)
        if correct.size == 0:
            return
        keep = pareto_mask(ms, correct) | pareto_mask(usd, correct)
        self.parts.append(
            (correct[keep], ms[keep], usd[keep], worst[keep], mflops[keep], structure[keep])
        )

    def merged(self) -> tuple[np.ndarray, ...]:
        cols = [np.concatenate(col) for col in zip(*self.parts, strict=True)]
        keep = pareto_mask(cols[1], cols[0]) | pareto_mask(cols[2], cols[0])
        return tuple(col[keep] for col in cols)


def search_cascades(
    probs: Mapping[str, np.ndarray],
    labels: np.ndarray,
    pool: Sequence[str],
    costs: CostTable,
    tiers_gpu: Sequence[str],
    policy: ExitPolicyName,
    space: SearchSpace | None = None,
    progress: bool = True,
) -> Candidates:
    """Enumerate every cascade of disjoint tiers (1..max_members each), each tier costing at
    least as much as the one before it, on ONE split."""
    space = space or SearchSpace()
    labels = np.asarray(labels)
    n = labels.shape[0]
    pool = tuple(pool)
    combine = FAMILY_COMBINE[policy]
    subsets = [
        combo
        for size in range(1, space.max_members + 1)
        for combo in itertools.combinations(pool, size)
    ]
    bit = {m: 1 << i for i, m in enumerate(pool)}
    masks = np.array([sum(bit[m] for m in s) for s in subsets], dtype=np.int64)
    tiers_gpu = tuple(dict.fromkeys(tiers_gpu)) if space.choose_classes else tuple(tiers_gpu)
    gpu_of, ms, usd, lat = place_tiers(subsets, costs, tiers_gpu, space)
    mfl = np.array([costs.tier_mflops(s) for s in subsets])
    # Cascades go from cheap to expensive: a tier never costs less (on the first tier's GPU
    # class) than the tier before it. This is the product's definition and prunes the space.
    tier_key = ms[:, 0]

    correct = np.zeros((len(subsets), n), dtype=np.float32)
    options: list[tuple[int, float]] = []
    exits: list[np.ndarray] = []
    bar = tqdm(subsets, desc=f"deciding {policy} tiers", disable=not progress, leave=False)
    for s, members in enumerate(bar):
        stack = np.stack([np.asarray(probs[m]) for m in members])
        first = decide_tier(stack, policy, 1.0, combine)
        correct[s] = first.labels == labels
        grid = _thresholds(policy, len(members), first.confidence, space.confidence_levels)
        for threshold in grid:
            exit_mask = decide_tier(stack, policy, threshold, combine).exits
            if exit_mask.all() or not exit_mask.any():
                continue  # never escalates (= a 1-tier cascade) or never exits (dominated)
            options.append((s, float(threshold)))
            exits.append(exit_mask)
    opt_subset = np.array([s for s, _ in options], dtype=np.int64)
    opt_mask = masks[opt_subset] if options else np.zeros(0, dtype=np.int64)
    E = np.array(exits, dtype=np.float32).reshape(len(options), n)
    X = 1.0 - E  # escalates
    Y = E * correct[opt_subset] if options else E  # exits and is right
    exit_right = Y.sum(axis=1)
    reach_next = X.sum(axis=1) / n
    limit = (
        np.inf if space.max_worst_case_ms is None else space.max_worst_case_ms,
        np.inf if space.slo_p99_ms is None else space.slo_p99_ms,
    )
    chunks = _Chunks()
    S = len(subsets)
    all_s = np.arange(S)

    # 1 tier
    chunks.add(
        *_finite(correct.sum(axis=1), ms[:, 0], usd[:, 0], ms[:, 0], mfl,
                 np.stack([np.full(S, -1), np.full(S, -1), all_s], axis=1), limit,
                 lat[:, 0])
    )
    if space.max_tiers >= 2 and options:
        # 2 tiers: rows = first-tier option, cols = last subset
        right = exit_right[:, None] + X @ correct.T
        valid = ((opt_mask[:, None] & masks[None, :]) == 0) & (
            tier_key[opt_subset][:, None] <= tier_key[None, :]
        )
        o_idx, s_idx = np.nonzero(valid)
        chunks.add(
            *_finite(
                right[o_idx, s_idx],
                ms[opt_subset[o_idx], 0] + reach_next[o_idx] * ms[s_idx, 1],
                usd[opt_subset[o_idx], 0] + reach_next[o_idx] * usd[s_idx, 1],
                ms[opt_subset[o_idx], 0] + ms[s_idx, 1],
                mfl[opt_subset[o_idx]] + reach_next[o_idx] * mfl[s_idx],
                np.stack([o_idx, np.full(o_idx.size, -1), s_idx], axis=1),
                limit,
                lat[opt_subset[o_idx], 0] + lat[s_idx, 1],
            )
        )
    if space.max_tiers >= 3 and options:
        second_right = X @ Y.T  # [o1, o2]: escalated by o1, exits right at o2
        bar = tqdm(range(len(options)), desc=f"3-tier {policy} cascades",
                   disable=not progress, leave=False)
        for o1 in bar:
            not_cheaper = tier_key[opt_subset] >= tier_key[opt_subset[o1]]
            o2s = np.nonzero(((opt_mask & opt_mask[o1]) == 0) & not_cheaper)[0]
            if o2s.size == 0:
                continue
            escalated = np.nonzero(X[o1])[0]  # only these images can reach tiers 1 and 2
            both = X[np.ix_(o2s, escalated)]  # escalated by both first tiers
            third_right = both @ correct[:, escalated].T  # [o2, last]
            reach3 = both.sum(axis=1) / n
            used = opt_mask[o2s] | opt_mask[o1]
            valid = ((used[:, None] & masks[None, :]) == 0) & (
                tier_key[opt_subset[o2s]][:, None] <= tier_key[None, :]
            )
            r_idx, s_idx = np.nonzero(valid)
            o2_idx = o2s[r_idx]
            a, b = opt_subset[o1], opt_subset[o2_idx]
            r2 = reach_next[o1]
            chunks.add(
                *_finite(
                    exit_right[o1] + second_right[o1, o2_idx] + third_right[r_idx, s_idx],
                    ms[a, 0] + r2 * ms[b, 1] + reach3[r_idx] * ms[s_idx, 2],
                    usd[a, 0] + r2 * usd[b, 1] + reach3[r_idx] * usd[s_idx, 2],
                    ms[a, 0] + ms[b, 1] + ms[s_idx, 2],
                    mfl[a] + r2 * mfl[b] + reach3[r_idx] * mfl[s_idx],
                    np.stack([np.full(o2_idx.size, o1), o2_idx, s_idx], axis=1),
                    limit,
                    lat[a, 0] + lat[b, 1] + lat[s_idx, 2],
                )
            )
    if not chunks.parts:
        raise ValueError(
            f"no cascade satisfies max worst-case cost {space.max_worst_case_ms} device-ms "
            f"and the latency SLO {space.slo_p99_ms} ms"
        )
    c, m, u, w, f, st = chunks.merged()
    return Candidates(
        policy=policy, pool=pool, subsets=subsets, options=options, tiers_gpu=tiers_gpu,
        gpu_of=gpu_of, n=n, correct_count=np.rint(c).astype(np.int64), device_ms=m, usd=u,
        worst_ms=w,
        mflops=f, structure=st.astype(np.int64), enumerated=chunks.enumerated,
    )


def _finite(correct, ms, usd, worst, mflops, structure, limit, latency):
    """Apply the worst-case cost and latency limits before Pareto pruning (hard constraints)."""
    keep = (worst <= limit[0] + 1e-12) & (latency <= limit[1] + 1e-12)
    return correct[keep], ms[keep], usd[keep], worst[keep], mflops[keep], structure[keep]


def select(
    cands: Candidates,
    objective: str,
    *,
    min_correct: int | None = None,
    budget_ms: float | None = None,
    cost_unit: str = "usd",
) -> int:
    """Index of the chosen cascade. Uses only what the search saw (one split).

    match-best: least cost with correct_count >= min_correct (best single member's count).
    max-accuracy: most correct with expected device-ms <= budget_ms; ties -> least cost.
    """
    cost = cands.usd if cost_unit == "usd" else cands.device_ms
    if objective == "match-best":
        if min_correct is None:
            raise ValueError("match-best needs the best single member's calibration accuracy")
        feasible = np.nonzero(cands.correct_count >= min_correct)[0]
        if feasible.size == 0:
            raise ValueError("no cascade reaches the best single member's calibration accuracy")
        order = np.lexsort((-cands.correct_count[feasible], cost[feasible]))
        return int(feasible[order[0]])
    if objective == "max-accuracy":
        if budget_ms is None or not math.isfinite(budget_ms):
            raise ValueError("--budget: max-accuracy needs a budget in device-ms per image")
        feasible = np.nonzero(cands.device_ms <= budget_ms + 1e-12)[0]
        if feasible.size == 0:
            cheapest = float(cands.device_ms.min())
            raise ValueError(
                f"--budget: no cascade costs <= {budget_ms} device-ms per image "
                f"(cheapest is {cheapest:.4f})"
            )
        order = np.lexsort((cost[feasible], -cands.correct_count[feasible]))
        return int(feasible[order[0]])
    raise ValueError(
        f"--objective: unknown objective {objective!r}; use match-best or max-accuracy"
    )

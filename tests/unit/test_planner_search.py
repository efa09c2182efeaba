"""The vectorised search against brute force, objectives' constraints, and split discipline."""

import itertools

import numpy as np
import pytest

from planner.costs import uniform_cost_table
from planner.plan import Objective, PredSet, choose
from planner.search import SearchSpace, _thresholds, search_cascades, select
from planner.simulate import TierSpec, simulate

GPUS = ("T4", "L4", "A100-40GB")


def synthetic_pool(n=600, c=5, members=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    probs = {}
    for i in range(members):
        logits = rng.normal(size=(n, c))
        logits[np.arange(n), labels] += 0.8 + 0.5 * i
        p = np.exp(logits)
        probs[f"m{i}"] = (p / p.sum(1, keepdims=True)).astype(np.float32)
    names = list(probs)
    costs = uniform_cost_table({m: 1.0 + 2.0 * i for i, m in enumerate(names)}, GPUS,
                                   {m: 10.0 * (i + 1) for i, m in enumerate(names)})
    return probs, labels, names, costs


def brute_force(probs, labels, pool, costs, policy, max_tiers, max_members, levels):
    """Every cheap-to-expensive cascade of disjoint tiers through the real simulator."""
    combine = {"agreement": "vote", "confidence": "mean"}[policy]
    subsets = [s for k in range(1, max_members + 1) for s in itertools.combinations(pool, k)]

    def grid(s):
        from cascade.policies import decide_tier

        stack = np.stack([probs[m] for m in s])
        conf = decide_tier(stack, policy, 1.0, combine).confidence
        return _thresholds(policy, len(s), conf, levels)

    grids = {s: grid(s) for s in subsets}
    results = []
    for depth in range(1, max_tiers + 1):
        for chain in itertools.permutations(subsets, depth):
            used = [m for s in chain for m in s]
            if len(used) != len(set(used)):
                continue
            tier_cost = [costs.tier_ms(s, GPUS[0]) for s in chain]
            if tier_cost != sorted(tier_cost):
                continue  # cascades run from cheap to expensive tiers
            for ths in itertools.product(*[grids[s] for s in chain[:-1]]):
                tiers = [TierSpec(s, policy, t, combine, GPUS[i])
                         for i, (s, t) in enumerate(zip(chain[:-1], ths, strict=True))]
                tiers.append(TierSpec(chain[-1], policy, 0.0, combine, GPUS[depth - 1]))
                results.append(simulate(tiers, probs, labels, costs))
    return results


@pytest.mark.parametrize("policy", ["agreement", "confidence"])
def test_search_finds_brute_force_optimum(policy):
    probs, labels, pool, costs = synthetic_pool()
    levels = 3
    space = SearchSpace(max_tiers=3, max_members=2, confidence_levels=levels)
    cands = search_cascades(probs, labels, pool, costs, GPUS, policy, space, progress=False)
    everything = brute_force(probs, labels, pool, costs, policy, 3, 2, levels)
    target = max(int((probs[m].argmax(1) == labels).sum()) for m in pool)
    feasible = [r for r in everything if r.correct.sum() >= target]
    best_usd = min(r.expected_usd for r in feasible)
    k = select(cands, "match-best", min_correct=target, cost_unit="usd")
    assert cands.usd[k] == pytest.approx(best_usd, rel=1e-6)
    # and the decoded cascade really does what the vectorised figures say
    replay = simulate(cands.tiers(k), probs, labels, costs)
    assert replay.correct.sum() == cands.correct_count[k]
    assert replay.expected_usd == pytest.approx(cands.usd[k], rel=1e-6)
    assert replay.expected_device_ms == pytest.approx(cands.device_ms[k], rel=1e-6)
    # the most accurate cascade under a budget matches brute force too
    budget = float(np.median([r.expected_device_ms for r in everything]))
    k = select(cands, "max-accuracy", budget_ms=budget)
    best_acc = max(r.accuracy for r in everything if r.expected_device_ms <= budget + 1e-12)
    assert cands.accuracy[k] == pytest.approx(best_acc)


def test_objectives_respect_their_constraints():
    probs, labels, pool, costs = synthetic_pool(seed=1)
    calib = PredSet(probs, labels)
    budget = 4.0
    choice = choose(calib, pool, costs, GPUS, Objective("max-accuracy", budget_ms=budget),
                    SearchSpace(confidence_levels=4), progress=False)
    assert choice.calib.expected_device_ms <= budget + 1e-9
    worst = 7.0  # the best single model alone costs 7.0 on T4: feasible but binding
    choice = choose(calib, pool, costs, GPUS, Objective("match-best", max_worst_case_ms=worst),
                    SearchSpace(confidence_levels=4), progress=False)
    assert choice.calib.worst_case_device_ms <= worst + 1e-9
    best_single = max(r.accuracy for r in choice.calib_singles.values())
    assert choice.calib.accuracy >= best_single
    choice = choose(calib, pool, costs, GPUS,
                    Objective("max-accuracy", budget_ms=3.0, max_worst_case_ms=4.5),
                    SearchSpace(confidence_levels=4), progress=False)
    assert choice.calib.expected_device_ms <= 3.0 + 1e-9
    assert choice.calib.worst_case_device_ms <= 4.5 + 1e-9
    with pytest.raises(ValueError, match="budget"):
        choose(calib, pool, costs, GPUS, Objective("max-accuracy", budget_ms=0.01),
               SearchSpace(confidence_levels=4), progress=False)


class WatchedProbs(dict):
    """Member probabilities that record when they are first read."""

    def __init__(self, data, log):
        super().__init__(data)
        self.log = log

    def __getitem__(self, key):
        self.log.append("test read")
        return super().__getitem__(key)


def test_selection_never_touches_test_split(monkeypatch):
    import planner.plan as plan_module

    probs, labels, pool, costs = synthetic_pool(n=800, seed=2)
    log: list[str] = []
    calib = PredSet({m: p[:400] for m, p in probs.items()}, labels[:400])
    test = PredSet(WatchedProbs({m: p[400:] for m, p in probs.items()}, log), labels[400:])
    real_choose = plan_module.choose

    def watched_choose(*args, **kwargs):
        log.append("choose start")
        result = real_choose(*args, **kwargs)
        log.append("choose end")
        return result

    monkeypatch.setattr(plan_module, "choose", watched_choose)
    choice, result = plan_module.run_plan(
        calib, test, pool, costs, GPUS, Objective(), SearchSpace(confidence_levels=4),
        progress=False,
    )
    assert log[:2] == ["choose start", "choose end"]  # no test read before the choice is fixed
    assert "test read" in log[2:]  # and the test split is what the report is computed on
    assert result.chosen.correct.shape == (400,)
    # the same calibration data gives the same plan whatever the test split holds
    other = PredSet({m: np.roll(p, 7, axis=0) for m, p in test.probs.items()}, labels[400:])
    again, _ = plan_module.run_plan(calib, other, pool, costs, GPUS, Objective(),
                                    SearchSpace(confidence_levels=4), progress=False)
    assert again.tiers == choice.tiers

"""The online budget keeper: sliding window, bounded nudges in the right direction."""

import numpy as np
import pytest

from cascade.learned import logit
from cascade.learned_config import KeeperConfig
from serve_app.budget_keeper import BudgetKeeper, apply_thresholds
from serve_app.runner import TierPlan


def keeper(enabled=True, **kw):
    settings = KeeperConfig(enabled=enabled, window=40, update_every=10, gain=0.5, **kw)
    return BudgetKeeper(2.0, "device_ms", settings, {"tier0": 0.5, "tier1": 0.8})


def test_over_budget_lowers_thresholds_under_budget_raises_them():
    k = keeper()
    assert k.observe([3.0] * 10)  # 50% over
    assert k.offset == pytest.approx(-0.25)
    assert k.thresholds()["tier0"] < 0.5 and k.thresholds()["tier1"] < 0.8
    k2 = keeper()
    assert k2.observe([1.0] * 10)  # 50% under
    assert k2.offset == pytest.approx(0.25)
    assert logit(k2.thresholds()["tier0"]) == pytest.approx(0.25)


def test_window_slides_and_deadband_holds_still():
    k = keeper(deadband=0.05)
    k.observe([10.0] * 40)
    k.observe([2.0] * 40)  # the window now only holds on-budget images
    assert k.realized == pytest.approx(2.0)
    moved_before = k.offset
    assert not k.observe([2.02] * 10)  # 1% over: inside the deadband
    assert k.offset == moved_before


def test_offset_is_bounded():
    k = keeper(max_offset=1.0)
    for _ in range(50):
        k.observe([100.0] * 10)
    assert k.offset == -1.0
    assert k.snapshot().offset_logits == -1.0


def test_disabled_keeper_only_measures():
    k = keeper(enabled=False)
    assert not k.observe([5.0] * 30)
    snap = k.snapshot()
    assert snap.offset_logits == 0.0 and snap.realized == pytest.approx(5.0)
    assert snap.realized_over_target == pytest.approx(2.5) and not snap.enabled


def test_target_change_and_rebase():
    k = keeper()
    k.set_target(4.0)
    assert k.observe([3.0] * 10) and k.offset > 0  # 3 is now under budget
    k.rebase({"tier0": 0.6})
    assert set(k.thresholds()) == {"tier0"}
    with pytest.raises(ValueError):
        k.set_target(0.0)


def test_closed_loop_holds_a_shifted_cost_near_target():
    """Toy plant: an image costs 1 if it exits at tier 0, else 5; it exits when its score
    beats the threshold. Hard images (low scores) become common halfway through."""
    rng = np.random.default_rng(0)
    settings = KeeperConfig(enabled=True, window=200, update_every=20, gain=0.5)
    k = BudgetKeeper(2.0, "device_ms", settings, {"tier0": 0.5})
    costs = []
    for step in range(300):
        hard = 0.2 if step < 150 else 0.6
        scores = np.where(rng.random(20) < hard, rng.normal(-1, 1, 20), rng.normal(1.5, 1, 20))
        exits = scores >= logit(k.thresholds()["tier0"])
        cost = np.where(exits, 1.0, 5.0)
        costs.extend(cost)
        k.observe(cost.tolist())
    late = np.mean(costs[-2000:])
    assert abs(late / 2.0 - 1) < 0.1


def test_apply_thresholds_touches_only_named_tiers():
    plans = [TierPlan(n, i, "T4", "learned", 0.5, "mean", ("m",), (object(),))
             for i, n in enumerate(("tier0", "tier1"))]
    out = apply_thresholds(plans, {"tier0": 0.3})
    assert [p.threshold for p in out] == [0.3, 0.5]


def test_admin_update_is_checked_against_the_cascade():
    from cascade.config import parse_cascade
    from cascade.learned import scheduler_feature_names
    from serve_app.budget_keeper import check_update
    from serve_app.decode import InputError
    from serve_app.schemas import PolicyUpdate

    config = parse_cascade({"tiers": [
        {"name": "t0", "gpu_class": "T4", "members": [{"model": "resnet20"}]},
        {"name": "t1", "gpu_class": "T4", "members": [{"model": "resnet56"}]},
    ]})
    with pytest.raises(InputError) as info:
        check_update(config, PolicyUpdate(exit_policies={}, budget=0.2), None)
    assert info.value.status == 422 and "budget" in str(info.value)
    wrong = scheduler_feature_names([["resnet32"]])
    update = PolicyUpdate.model_validate({"exit_policies": {"t0": {
        "kind": "learned", "threshold": 0.5,
        "scheduler": {"features": wrong,
                      "layers": [{"weight": [[0.0] * len(wrong)], "bias": [0.0]}]}}}})
    with pytest.raises(InputError) as info:
        check_update(config, update, None)
    assert "tiers.0.exit_policy.scheduler.features" in str(info.value)
    right = scheduler_feature_names([["resnet20"]])
    ok = PolicyUpdate.model_validate({"exit_policies": {"t0": {
        "kind": "learned", "threshold": 0.5,
        "scheduler": {"features": right,
                      "layers": [{"weight": [[0.0] * len(right)], "bias": [0.0]}]}}}})
    check_update(config, ok, None)

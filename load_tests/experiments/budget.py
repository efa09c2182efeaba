"""`coe bench budget`: does a learned (EENet) cascade spend the budget it is given, and is
it more accurate than agreement / confidence cascades at the same cost?

Offline, on cached member predictions: everything is chosen on the calibration split and
scored on the test split. Costs are device-ms per image on EMULATED GPU classes (CPU-timed
members turned into device time by the planner's device model), priced at `rate` req/s.

1. Search agreement and confidence cascades (planner.search) and take the agreement
   match-best plan (the best agreement plan: cheapest reaching the single best).
2. For 5 budgets B (fractions of that plan's calibration cost): train the learned
   schedulers, set thresholds so calibration cost = B, report realised test cost R and
   test accuracy; the other families get their most accurate plan costing <= B.
3. At the agreement plan's cost: accuracy of all three families on test, and the cost at
   which the learned family reaches the agreement plan's calibration accuracy.
"""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel, Field

DEFAULT_FRACTIONS = (0.5, 0.75, 1.0, 1.25, 1.5)


class BudgetOptions(BaseModel):
    pool: str = "all"
    dataset: str = "cifar10-jpeg"
    rate: float = Field(default=20.0, gt=0)
    classes: str = "T4,L4,A100-40GB"
    fractions: list[float] = Field(default=list(DEFAULT_FRACTIONS), min_length=5, max_length=5,
                                   description="budgets as fractions of the agreement plan's cost")
    max_members: int = Field(default=3, ge=1, le=3)
    structures: int = Field(default=4, ge=1, description="tier structures trained per budget")
    out: str = "reports/budget"


def _figures(sim) -> dict:
    return {"accuracy": sim.accuracy, "cost_device_ms": sim.expected_device_ms,
            "cost_usd_per_1k": sim.usd_per_1k,
            "exit_distribution": list(sim.exit_distribution)}


def run_budget(options: BudgetOptions, progress: bool = True) -> dict:
    import numpy as np
    from tqdm import tqdm

    from cost_model.device_time import emulation_note
    from planner.costs import Batching
    from planner.learned_plan import best_at_budget, choose_learned, most_accurate_within
    from planner.plan import Objective, PredSet, choose
    from planner.pool import resolve_pool
    from planner.predictions import pool_probs
    from planner.profile import cost_table, profile_pool
    from planner.search import SearchSpace
    from planner.simulate import simulate

    started = time.perf_counter()
    pool = resolve_pool(options.pool)
    classes = [c for c in options.classes.split(",") if c]
    calib = PredSet(*pool_probs(pool, options.dataset, "calibration", progress))
    test = PredSet(*pool_probs(pool, options.dataset, "test", progress))
    costs = cost_table(profile_pool(pool, progress=progress), classes,
                       batching=Batching(options.rate))
    space = SearchSpace(max_members=options.max_members, choose_classes=True)
    objective = Objective(policy="agreement")  # the CoE plan the budgets are anchored on
    choice = choose(calib, pool, costs, classes, objective, space, progress)
    families = choice.families
    agree_calib = choice.family_calib["agreement"]
    anchor = agree_calib.expected_device_ms

    def on_test(tiers):
        return simulate(tiers, test.probs, test.labels, costs)

    rows, table, fits = [], [], {}
    budgets = [anchor * f for f in options.fractions]
    for budget in tqdm(budgets, desc="budgets", disable=not progress):
        fit = best_at_budget(families, calib.probs, calib.labels, costs, budget, "device_ms",
                             limit=options.structures)
        fits[budget] = fit
        entry = {"target": budget}
        if fit is None:
            entry.update(realized_test=None, accuracy_test=None)
        else:
            sim = on_test(fit.tiers)
            entry.update(realized_test=sim.expected_device_ms, accuracy_test=sim.accuracy)
        rows.append(entry)
        per_family = {"budget_device_ms": budget,
                      "learned": None if fit is None else {
                          **_figures(on_test(fit.tiers)),
                          "calibration_cost_device_ms": fit.sim.expected_device_ms,
                          "calibration_accuracy": fit.sim.accuracy,
                          "tiers": [list(t.members) for t in fit.tiers]}}
        for family in ("agreement", "confidence"):
            try:
                k = most_accurate_within(families[family], budget, "device_ms")
                per_family[family] = {**_figures(on_test(families[family].tiers(k))),
                                      "tiers": [list(t.members)
                                                for t in families[family].tiers(k)]}
            except ValueError:
                per_family[family] = None
        table.append(per_family)

    agreement_test = on_test(choice.family_choice["agreement"])
    conf_k = most_accurate_within(families["confidence"], anchor, "device_ms")
    confidence_test = on_test(families["confidence"].tiers(conf_k))
    learned_fit = fits.get(anchor) or best_at_budget(
        families, calib.probs, calib.labels, costs, anchor, "device_ms", limit=options.structures)
    learned_test = on_test(learned_fit.tiers) if learned_fit else None
    # Same accuracy, lower cost? The cheapest learned plan reaching the agreement plan's
    # calibration accuracy (chosen on calibration, point rule), scored on test.
    same_acc = choose_learned(
        calib, families, costs,
        Objective(name="match-best", selection="point", cost_unit="device_ms"),
        int(agree_calib.correct.sum()), agree_calib.correct, limit=options.structures,
    )
    same_acc_test = on_test(same_acc) if same_acc else None
    at_cost = {
        "agreement": agreement_test.accuracy,
        "confidence": confidence_test.accuracy,
        "learned": learned_test.accuracy if learned_test else None,
    }
    report = {
        "budgets": rows,
        "at_match_best_cost": at_cost,
        "unit": "device_ms per image (EMULATED GPU classes)",
        "emulation_note": emulation_note(costs.emulated),
        "adherence": [None if r["realized_test"] is None else r["realized_test"] / r["target"]
                      for r in rows],
        "agreement_plan": {"calibration": _figures(agree_calib), "test": _figures(agreement_test),
                           "tiers": [list(t.members) for t in choice.family_choice["agreement"]]},
        "at_match_best_cost_detail": {
            "budget_device_ms": anchor,
            "agreement": _figures(agreement_test),
            "confidence": _figures(confidence_test),
            "learned": _figures(learned_test) if learned_test else None,
            "learned_minus_agreement_points":
                None if learned_test is None
                else 100.0 * (learned_test.accuracy - agreement_test.accuracy),
        },
        "learned_at_agreement_calibration_accuracy": None if same_acc_test is None else {
            **_figures(same_acc_test),
            "cost_ratio_vs_agreement": same_acc_test.expected_device_ms
            / agreement_test.expected_device_ms,
            "tiers": [list(t.members) for t in same_acc],
        },
        "families_by_budget_test": table,
        "single_best": choice.single_best,
        "pool": pool, "rate_per_s": options.rate, "classes": classes,
        "fractions": options.fractions,
        "seconds": round(time.perf_counter() - started, 1),
        "samples": {"calibration": int(np.asarray(calib.labels).size),
                    "test": int(np.asarray(test.labels).size)},
    }
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_budget(report, out / "frontier.png")
    if learned_fit is not None:  # deployable, and the input of `coe bench budget-stream`
        from cascade.config import dump_cascade
        from planner.export import to_cascade_config

        config = to_cascade_config(learned_fit.tiers, name="learned-at-agreement-cost",
                                   budget={"target": anchor, "unit": "device_ms"})
        dump_cascade(config, out / "learned-at-agreement-cost.yaml")
        report["learned_config"] = str(out / "learned-at-agreement-cost.yaml")
    return report


def plot_budget(report: dict, path: Path) -> None:
    """Test accuracy vs test cost of the three families at each budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"agreement": "tab:blue", "confidence": "tab:orange", "learned": "tab:green"}
    for family, color in styles.items():
        points = sorted(
            (row[family]["cost_device_ms"], row[family]["accuracy"] * 100)
            for row in report["families_by_budget_test"] if row.get(family)
        )
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", color=color, label=f"{family} (test)")
    plan = report["agreement_plan"]["test"]
    ax.scatter(plan["cost_device_ms"], plan["accuracy"] * 100, marker="*", s=160,
               color="tab:blue", label="agreement match-best plan (test)")
    ax.set_xlabel("device-ms per image on test (EMULATED GPU classes)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Accuracy at equal budgets: agreement vs confidence vs learned")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

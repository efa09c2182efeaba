"""The plan's report: one JSON summary, a Markdown table and the frontier plot.

Every figure states whether GPU classes were emulated from CPU timings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cost_model.device_time import emulation_note
from planner.costs import CostTable
from planner.frontier import frontier
from planner.plan import Choice, Evaluation, Objective, equal_accuracy_comparison
from planner.simulate import SimResult


def _figures(sim: SimResult | None) -> dict | None:
    if sim is None:
        return None
    return {
        "accuracy": round(sim.accuracy, 5),
        "cost_device_ms": round(sim.expected_device_ms, 5),
        "cost_usd_per_1k": sim.usd_per_1k,
        "mflops": round(sim.expected_mflops, 3),
        "worst_case_device_ms": round(sim.worst_case_device_ms, 5),
        "exit_distribution": [round(x, 5) for x in sim.exit_distribution],
    }


def tier_placement(choice: Choice, costs: CostTable, classes: Sequence[str]) -> list[dict]:
    """Why each tier sits where it does: its $ per 1k images and predicted latency on every
    class, at the batch sizes its share of the traffic (calibration reach) produces."""
    out = []
    for tier, reach in zip(choice.tiers, choice.calib.tier_reach, strict=False):
        r = max(reach, 1e-3)
        out.append({
            "members": list(tier.members),
            "gpu_class": tier.gpu_class,
            "reach": reach,
            "predicted_batch": round(costs.predicted_batch(r), 3),
            "usd_per_1k_images_by_class": {
                g: costs.tier_usd(tier.members, g, r) * 1000.0 for g in classes
            },
            "latency_ms_by_class": {
                g: round(costs.tier_latency_ms(tier.members, g, r), 4) for g in classes
            },
        })
    return out


def summary(
    choice: Choice, test: Evaluation, objective: Objective, config: dict, extra: dict,
    emulated: bool, costs: CostTable | None = None, classes: Sequence[str] = (),
) -> dict:
    best = choice.single_best
    sb_test = test.singles[best]
    chosen = test.chosen
    same = test.chosen_same_class
    placements = tier_placement(choice, costs, classes) if costs is not None else []
    predicted_batch = {
        m: p["predicted_batch"] for p in placements for m in p["members"]
    }
    return {
        "emulated_gpu_classes": emulated,
        "note": emulation_note(emulated),
        **extra,
        "objective": objective.name,
        "budget_device_ms": objective.budget_ms,
        "max_worst_case_device_ms": objective.max_worst_case_ms,
        "cost_unit": objective.cost_unit,
        "accuracy_margin_points": objective.accuracy_margin * 100.0,
        "slo_p99_ms": objective.slo_p99_ms,
        "chosen": {
            "config": config,
            "family": choice.family,
            "tiers_gpu": [t.gpu_class for t in choice.tiers],
            "placement": placements,
            "accuracy_test": chosen.accuracy,
            "accuracy_calibration": choice.calib.accuracy,
            "cost_device_ms": chosen.expected_device_ms,
            "cost_usd_per_1k": chosen.usd_per_1k,
            "cost_device_ms_calibration": choice.calib.expected_device_ms,
            "mflops": chosen.expected_mflops,
            "worst_case_device_ms": chosen.worst_case_device_ms,
            "exit_distribution": list(chosen.exit_distribution),
        },
        "single_best": {
            "name": best,
            "chosen_on": "calibration",
            "accuracy_test": sb_test.accuracy,
            "accuracy_calibration": choice.calib_singles[best].accuracy,
            "cost_device_ms": sb_test.expected_device_ms,
            "cost_usd_per_1k": sb_test.usd_per_1k,
            "gpu_class": choice.single_best_gpu,
        },
        "predicted_batch": predicted_batch,
        "footing": "cost_ratio_usd: single best on its cheapest class / the plan on its chosen "
        "classes, both priced at the planned rate; cost_ratio_usd_same_class: both on the "
        "single best's class",
        "cost_ratio": sb_test.expected_device_ms / chosen.expected_device_ms,
        "cost_ratio_usd": sb_test.expected_usd / chosen.expected_usd,
        "cost_ratio_usd_same_class": (
            sb_test.expected_usd / same.expected_usd if same is not None else None
        ),
        "chosen_at_least_single_best_on_test": chosen.accuracy >= sb_test.accuracy,
        "families_test": {f: _figures(s) for f, s in test.family_plans.items()},
        "families_calibration_to_test_gap": {
            f: (choice.family_calib[f].accuracy - s.accuracy)
            if s is not None and f in choice.family_calib else None
            for f, s in test.family_plans.items()
        },
        "selection": {"rule": objective.selection, "confidence": objective.confidence},
        "families_calibration_equal_accuracy": equal_accuracy_comparison(
            choice, objective.cost_unit
        ),
        "baselines_test": {
            "singles": {m: _figures(s) for m, s in test.singles.items()},
            "ensembles": {m: _figures(s) for m, s in test.ensembles.items()},
            "oracle": {
                "accuracy": test.oracle_accuracy,
                "cost_device_ms": test.oracle_device_ms,
                "cost_usd_per_1k": test.oracle_usd * 1000.0,
                "definition": "right if any pool member is right; costs the cheapest right "
                "member (cheapest member if none is right)",
            },
        },
        "search": {
            f: {"enumerated": c.enumerated, "pareto_kept": int(c.correct_count.size)}
            for f, c in choice.families.items()
        },
    }


def markdown(report: dict) -> str:
    """Test-split table of the plan and every baseline."""
    rows = [("chosen plan (" + report["chosen"]["family"] + ")", {
        "accuracy": report["chosen"]["accuracy_test"],
        "cost_device_ms": report["chosen"]["cost_device_ms"],
        "cost_usd_per_1k": report["chosen"]["cost_usd_per_1k"],
    })]
    for family, figs in report["families_test"].items():
        if figs:
            rows.append((f"best {family} cascade (same objective)", figs))
    base = report["baselines_test"]
    rows += [(name, figs) for name, figs in base["ensembles"].items()]
    rows += [(name, figs) for name, figs in base["singles"].items()]
    rows.append(("oracle (bound, not deployable)", base["oracle"]))
    lines = [
        f"Test split, {report.get('dataset', '')}; plan chosen on the calibration split.",
        f"Note: {report['note']}.",
        "",
        "| system | test accuracy | device-ms / image | $ / 1k predictions |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, figs in rows:
        lines.append(
            f"| {name} | {figs['accuracy'] * 100:.2f}% | {figs['cost_device_ms']:.4f} | "
            f"{figs['cost_usd_per_1k']:.6f} |"
        )
    lines += [
        "",
        f"Single best (chosen on calibration): {report['single_best']['name']} on "
        f"{report['single_best'].get('gpu_class')}. Plan tiers on "
        f"{', '.join(report['chosen'].get('tiers_gpu', []))}. "
        f"Cost ratio single best / plan: {report['cost_ratio_usd']:.2f}x in dollars "
        f"(each on its own classes), {_ratio(report.get('cost_ratio_usd_same_class'))} on the "
        f"same class; {report['cost_ratio']:.2f}x in device-ms. Plan >= single best on test: "
        f"{report['chosen_at_least_single_best_on_test']}.",
    ]
    placements = report["chosen"].get("placement") or []
    if placements:
        classes = list(placements[0]["usd_per_1k_images_by_class"])
        lines += [
            "",
            f"Why each tier sits where it does (at {report.get('rate_per_s')} req/s; $ per 1k "
            "images reaching the tier / predicted latency ms, per class):",
            "",
            "| tier | reach | predicted batch | " + " | ".join(classes) + " | chosen |",
            "| --- | ---: | ---: |" + " ---: |" * len(classes) + " --- |",
        ]
        for i, p in enumerate(placements):
            cells = [
                f"{p['usd_per_1k_images_by_class'][g]:.2e} / {p['latency_ms_by_class'][g]:.2f}"
                for g in classes
            ]
            lines.append(
                f"| {i}: {', '.join(p['members'])} | {p['reach']:.3f} | "
                f"{p['predicted_batch']:.2f} | " + " | ".join(cells) + f" | {p['gpu_class']} |"
            )
    return "\n".join(lines) + "\n"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def plot_frontier(choice: Choice, test: Evaluation, path: Path, emulated: bool) -> None:
    """Calibration frontiers per family, baselines, and the chosen plan on test."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    styles = {"agreement": ("CoE agreement cascades", "tab:blue"),
              "confidence": ("confidence cascades (WoC)", "tab:orange")}
    for family, cands in choice.families.items():
        label, color = styles[family]
        x, y = frontier(cands.usd * 1000.0, cands.accuracy)
        ax.step(x, y * 100, where="post", color=color, label=label + " (calib.)")
    for name, sim in choice.calib_singles.items():
        ax.scatter(sim.usd_per_1k, sim.accuracy * 100, color="gray", marker="o")
        ax.annotate(name, (sim.usd_per_1k, sim.accuracy * 100), fontsize=7)
    for name, sim in choice.calib_ensembles.items():
        ax.scatter(sim.usd_per_1k, sim.accuracy * 100, color="tab:green", marker="s", label=name)
    ax.scatter(test.oracle_usd * 1000, test.oracle_accuracy * 100, color="black", marker="^",
               label="oracle (test)")
    ax.scatter(test.chosen.usd_per_1k, test.chosen.accuracy * 100, color="red", marker="*",
               s=150, label="chosen plan (test)")
    ax.scatter(choice.calib.usd_per_1k, choice.calib.accuracy * 100, color="red", marker="x",
               s=60, label="chosen plan (calib.)")
    ax.set_xscale("log")
    ax.set_xlabel("$ per 1k predictions" + (" (emulated GPU classes)" if emulated else ""))
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy vs cost")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

"""`coe bench budget-stream`: a SIMULATED shifted stream through a learned cascade, with
the online budget keeper on and off (OFFLINE: cached predictions, no server).

The stream draws test images in requests of `batch` images. In the first half the share of
"hard" images (those the cascade's first tier gets wrong) is the test split's own; at the
midpoint it rises to `hard_share_after`. Each request is decided by `planner.simulate`
(the router's policy code) with the thresholds of the moment; each image costs the
device-ms of the tiers it passed (the plan's per-tier cost at its planned rate, EMULATED
GPU classes). The keeper (serve_app.budget_keeper.BudgetKeeper, the object the ingress
runs) sees those costs and moves the thresholds; the static run never moves them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from cascade.learned_config import KeeperConfig


class StreamOptions(BaseModel):
    cascade: str = Field(description="a learned cascade YAML with a `budget` section")
    dataset: str = "cifar10-jpeg"
    split: str = "test"
    rate: float = Field(default=20.0, gt=0, description="req/s the tier costs are priced at")
    images: int = Field(default=8000, ge=200)
    batch: int = Field(default=8, ge=1)
    hard_share_after: float = Field(default=0.5, gt=0, lt=1)
    window: int = Field(default=400, ge=10, description="images per reported window")
    seed: int = 0
    keeper: KeeperConfig | None = Field(
        default=None, description="keeper settings; default: the config's, switched on")
    keeper_gain: float | None = Field(default=None, gt=0, description="override the gain")
    out: str = "reports/budget_stream"


def hard_images(tiers, probs, labels) -> np.ndarray:
    """(n,) bool: "hard" = misclassified by the cascade's first tier alone."""
    from planner.costs import uniform_cost_table
    from planner.simulate import simulate

    free = uniform_cost_table({m: 0.0 for m in tiers[0].members}, [tiers[0].gpu_class])
    return ~simulate(tiers[:1], probs, labels, free).correct


def shifted_stream(hard: np.ndarray, n: int, share_after: float, rng) -> tuple[np.ndarray, int]:
    """Indices of the stream: natural mix, then `share_after` hard from the midpoint."""
    half = n // 2
    first = rng.integers(0, hard.size, half)
    hard_idx, easy_idx = np.nonzero(hard)[0], np.nonzero(~hard)[0]
    is_hard = rng.random(n - half) < share_after
    second = np.where(is_hard, rng.choice(hard_idx, n - half), rng.choice(easy_idx, n - half))
    return np.concatenate([first, second]), half


def replay(tiers, probs, labels, order, tier_cost, keeper, batch: int):
    """Run the stream request by request; returns per-image cost, correct, exit tier,
    and the keeper's offset after each request."""
    import dataclasses

    from planner.costs import uniform_cost_table
    from planner.simulate import simulate

    cum = np.cumsum(tier_cost)
    classes = list(dict.fromkeys(t.gpu_class for t in tiers))
    free = uniform_cost_table({m: 0.0 for t in tiers for m in t.members}, classes)
    names = [f"tier{i}" for i in range(len(tiers))]
    live = list(tiers)
    costs, correct, exits, offsets = [], [], [], []
    for start in range(0, order.size, batch):
        rows = order[start:start + batch]
        sub = {m: p[rows] for m, p in probs.items()}
        sim = simulate(live, sub, labels[rows], free)  # costs: `cum`, at the planned rate
        cost = cum[sim.exit_tier]
        costs.append(cost)
        correct.append(sim.correct)
        exits.append(sim.exit_tier)
        if keeper is not None and keeper.observe(cost.tolist()):
            shifted = keeper.thresholds()
            live = [dataclasses.replace(t, threshold=shifted[names[i]]) if names[i] in shifted
                    else t for i, t in enumerate(live)]
        offsets.append(0.0 if keeper is None else keeper.offset)
    return (np.concatenate(costs), np.concatenate(correct), np.concatenate(exits),
            np.asarray(offsets))


def offline_runs(config, tiers, probs, labels, stream, tier_cost, settings, batch: int,
                 window: int) -> dict:
    """`stream` = (order, shift_at) replayed with static thresholds and with the keeper."""
    from serve_app.budget_keeper import BudgetKeeper, learned_thresholds

    order, shift_at = stream
    target = config.budget.target
    runs = {}
    for name, keeper in (
        ("static", None),
        ("keeper", BudgetKeeper(target, "device_ms", settings, learned_thresholds(config.tiers))),
    ):
        cost, correct, exits, offsets = replay(tiers, probs, labels, order, tier_cost, keeper,
                                               batch)
        runs[name] = summarise_run(cost, correct, offsets, shift_at, target, window, exits)
    return runs


def run_stream(options: StreamOptions, progress: bool = True) -> dict:
    from cascade.config import load_cascade
    from cost_model.device_time import emulation_note
    from planner.expected import config_cost_table
    from planner.predictions import pool_probs
    from planner.simulate import simulate, tiers_from_config

    config = load_cascade(options.cascade)
    if config.budget is None or config.budget.unit != "device_ms":
        raise ValueError("--cascade: needs a learned cascade with budget.unit device_ms "
                         "(coe plan --policy learned --objective budget)")
    tiers = tiers_from_config(config)
    models = list(dict.fromkeys(m for t in tiers for m in t.members))
    probs, labels = pool_probs(models, options.dataset, options.split, progress)
    costs = config_cost_table(config, options.rate, progress)
    planned = simulate(tiers, probs, labels, costs)
    tier_cost = np.asarray(planned.tier_device_ms)
    rng = np.random.default_rng(options.seed)
    hard = hard_images(tiers, probs, labels)
    order, shift_at = shifted_stream(hard, options.images, options.hard_share_after, rng)
    target = config.budget.target
    settings = options.keeper or config.budget.keeper.model_copy(update={"enabled": True})
    if options.keeper_gain is not None:
        settings = settings.model_copy(update={"gain": options.keeper_gain})
    runs = offline_runs(config, tiers, probs, labels, (order, shift_at), tier_cost, settings,
                        options.batch, options.window)
    report = {
        "simulated": "OFFLINE simulation over cached predictions (no server); device-ms per "
                     "image on EMULATED GPU classes",
        "emulation_note": emulation_note(costs.emulated),
        "cascade": options.cascade,
        "target": target,
        "unit": "device_ms",
        "hard_definition": "misclassified by the cascade's first tier",
        "hard_share_before": float(hard[order[:shift_at]].mean()),
        "hard_share_after": float(hard[order[shift_at:]].mean()),
        "images": int(order.size),
        "shift_at_image": int(shift_at),
        "tier_device_ms": tier_cost.tolist(),
        "keeper_settings": settings.model_dump(),
        "runs": runs,
        "within_10pct": {
            name: run["after_shift"]["realized_over_target"] is not None
            and abs(run["after_shift"]["realized_over_target"] - 1.0) <= 0.10
            for name, run in runs.items()
        },
    }
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_stream(report, out / "realized_cost.png")
    return report


def summarise_run(cost, correct, offsets, shift_at, target, window: int, exits) -> dict:
    """Realised cost / B and accuracy before and after the shift, and per `window` images."""
    w = window
    windows = [float(cost[i:i + w].mean()) for i in range(0, cost.size - w + 1, w)]
    settle = shift_at + w  # one window after the shift: the keeper has had time to see it

    def phase(sl):
        return {"realized": float(cost[sl].mean()),
                "realized_over_target": float(cost[sl].mean() / target),
                "accuracy": float(correct[sl].mean())}

    return {
        "before_shift": phase(slice(0, shift_at)),
        "after_shift": phase(slice(shift_at, None)),
        "after_shift_settled": phase(slice(settle, None)),
        "whole_run": phase(slice(None)),
        "windows_realized": windows,
        "windows_within_10pct": float(np.mean([abs(x / target - 1) <= 0.1 for x in windows])),
        "offset_per_request": offsets.tolist()[:: max(1, len(offsets) // 200)],
        "final_offset": float(offsets[-1]) if offsets.size else 0.0,
        "exit_distribution": np.bincount(exits, minlength=int(exits.max()) + 1).tolist(),
    }


def plot_stream(report: dict, path: Path,
                title: str = "Shifted stream, OFFLINE simulation: static vs budget keeper",
                ylabel: str = "realised device-ms per image (window mean, EMULATED)") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target = report["target"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, color in (("static", "tab:red"), ("keeper", "tab:green")):
        windows = report["runs"][name]["windows_realized"]
        w = len(windows)
        xs = (np.arange(w) + 1) * (report["images"] // max(w, 1))
        ax.plot(xs, windows, marker=".", color=color,
                label=f"{name} thresholds" if name == "static" else "budget keeper on")
    ax.axhline(target, color="black", lw=1, label="budget B")
    ax.axhspan(0.9 * target, 1.1 * target, color="gray", alpha=0.15, label="B ± 10%")
    ax.axvline(report["shift_at_image"], color="tab:blue", ls="--",
               label=f"hard share {report['hard_share_before']:.2f} -> "
                     f"{report['hard_share_after']:.2f}")
    ax.set_xlabel("images into the stream")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

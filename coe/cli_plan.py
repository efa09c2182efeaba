"""`coe plan`: search a model pool for the cheapest cascade that meets an objective.

Profiles the members (or reads `--profile` measured on real GPUs), caches every member's
predictions, chooses the cascade on the calibration split, reports it on the test split,
and writes a cascade YAML that `coe serve deploy` runs unchanged.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from planner.costs import BATCH_WAIT_TIMEOUT_S, DEFAULT_RATE_PER_S, DEFAULT_TIERS_GPU
from planner.robust import DEFAULT_CONFIDENCE, DEFAULT_POLICY


def register(subparsers: argparse._SubParsersAction) -> None:
    plan = subparsers.add_parser(
        "plan", help="plan a cascade of ensembles from a model pool (choose on calibration)"
    )
    plan.add_argument("--pool", default="all", help="comma-separated model specs, or 'all'")
    plan.add_argument("--dataset", default="cifar10-jpeg")
    plan.add_argument("--calibration-split", default="calibration")
    plan.add_argument("--test-split", default="test")
    plan.add_argument("--objective", default="match-best",
                      choices=["match-best", "max-accuracy", "budget"])
    plan.add_argument("--budget", type=float, default=None,
                      help="max-accuracy: expected device-ms per image allowed; budget: the "
                      "average cost per image B (in --budget-unit) the plan must spend")
    plan.add_argument("--budget-unit", default="device_ms", choices=["device_ms", "usd_per_1k"],
                      help="unit of --budget with --objective budget (default: %(default)s)")
    plan.add_argument("--max-worst-case-cost", type=float, default=None,
                      help="device-ms of an image that reaches every tier")
    plan.add_argument("--accuracy-margin", type=float, default=0.0,
                      help="match-best: calibration accuracy must beat the single best by this "
                      "many percentage points (guards against threshold overfitting)")
    plan.add_argument("--selection", default="bootstrap", choices=["bootstrap", "point"],
                      help="match-best: a plan must beat the single best's calibration accuracy "
                      "by a paired bootstrap lower bound (default), or just by count (point)")
    plan.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE,
                      help="confidence of the bootstrap lower bound (default: %(default)s)")
    plan.add_argument("--cost-unit", default="usd", choices=["usd", "device_ms"],
                      help="what 'least cost' minimises (default: dollars)")
    plan.add_argument("--policy", default=DEFAULT_POLICY,
                      choices=["agreement", "confidence", "learned", "any"],
                      help="exit-policy family of the plan (agreement = CoE, learned = EENet "
                      "scheduler; any, the default, compares all three and keeps the cheapest plan "
                      "whose bound holds)")
    plan.add_argument("--classes", default=",".join(DEFAULT_TIERS_GPU),
                      help="GPU classes the planner may put each tier on (default: the classes "
                      "of the local demo cluster); each tier goes where it is cheapest")
    plan.add_argument("--tiers-gpu", default=None,
                      help="instead of choosing: GPU class of tier 0,1,2 (the last repeats)")
    plan.add_argument("--rate", type=float, default=DEFAULT_RATE_PER_S,
                      help="requests/s the plan is priced at: it sets the batch sizes Serve "
                      "forms, and floors are paid per batch (default: the demo's rate)")
    plan.add_argument("--slo-p99-ms", type=float, default=None,
                      help="predicted device latency of an image through every tier must stay "
                      "under this (device model at the predicted batch + batching wait)")
    plan.add_argument("--profile", default=None,
                      help="JSON of per-member per-GPU-class seconds measured on real hardware")
    plan.add_argument("--profile-device", default="cpu", choices=["cpu", "cuda"],
                      help="cuda: also measure every member on the local GPU (CUDA events) "
                      "and price its catalog class with that; other classes stay emulated")
    plan.add_argument("--batch-size", type=int, default=8,
                      help="max_batch_size the members are deployed (and priced) with")
    plan.add_argument("--max-tiers", type=int, default=3, choices=[1, 2, 3])
    plan.add_argument("--max-members", type=int, default=3, choices=[1, 2, 3])
    plan.add_argument("--confidence-levels", type=int, default=10)
    plan.add_argument("--out", default=None, help="write the chosen cascade YAML here")
    plan.add_argument("--name", default=None, help="cascade name (default from --out)")
    plan.add_argument("--no-colocate-first-tier", action="store_true",
                      help="deploy the first tier's members as their own deployments instead "
                      "of inside the ingress")
    plan.add_argument("--report-dir", default=None, help="write summary.json, table.md, PNG")
    plan.add_argument("--json", action="store_true", help="print ONE JSON object")
    plan.add_argument("--no-progress", action="store_true")
    from coe.cli_autoscale import add_gears_flag

    add_gears_flag(plan)
    plan.set_defaults(func=cmd_plan)


def _costs(args, pool: list[str], classes: list[str]):
    from planner.costs import Batching
    from planner.profile import ProfileFile, cost_table, load_profile, profile_pool

    measured = load_profile(args.profile) if args.profile else None
    if getattr(args, "profile_device", "cpu") == "cuda":
        from cost_model.catalog import load_catalog
        from planner.profile_cuda import merge_profiles, profile_pool_on_cuda

        on_gpu = profile_pool_on_cuda(pool, load_catalog(), progress=not args.no_progress)
        measured = merge_profiles(measured, on_gpu)
    covered = set()
    if measured is not None:
        covered = {
            m for m in pool
            if m in measured.members
            and all(g in measured.members[m].device_seconds_per_image for g in classes)
        }
    local = profile_pool([m for m in pool if m not in covered], progress=not args.no_progress)
    members = {**{m: measured.members[m] for m in covered}, **local.members} if measured else dict(
        local.members
    )
    batching = Batching(args.rate, args.batch_size, BATCH_WAIT_TIMEOUT_S)
    return cost_table(
        ProfileFile(members=members), classes, args.batch_size, measured, batching=batching
    )


def cmd_plan(args: argparse.Namespace) -> int:
    if args.gears:
        from coe.cli_autoscale import cmd_gears

        return cmd_gears(args)
    from cascade.config import dump_cascade
    from cost_model.catalog import load_catalog
    from planner.export import to_cascade_config
    from planner.plan import Objective, PredSet, choose, evaluate
    from planner.pool import resolve_pool
    from planner.predictions import pool_probs
    from planner.report import markdown, plot_frontier, summary
    from planner.search import SearchSpace
    from zoo.datasets import load_split, validate

    validate(args.dataset, args.calibration_split)
    validate(args.dataset, args.test_split)
    if args.calibration_split == args.test_split:
        raise ValueError("--test-split must differ from --calibration-split")
    if args.objective in ("max-accuracy", "budget") and args.budget is None:
        raise ValueError(f"--budget is required with --objective {args.objective}")
    if args.budget is not None and args.budget <= 0:
        raise ValueError("--budget must be > 0")
    if args.rate <= 0:
        raise ValueError("--rate must be > 0 requests/s")
    catalog = load_catalog()
    choose_classes = args.tiers_gpu is None
    text = args.classes if choose_classes else args.tiers_gpu
    tiers_gpu = [g.strip() for g in text.split(",") if g.strip()]
    if not tiers_gpu:
        raise ValueError("--classes: name at least one GPU class")
    for gpu in tiers_gpu:
        catalog.get(gpu)  # KeyError naming the known classes
    classes = list(dict.fromkeys(tiers_gpu))
    pool = resolve_pool(args.pool)
    progress = not args.no_progress

    costs = _costs(args, pool, classes)
    calib = PredSet(*pool_probs(pool, args.dataset, args.calibration_split, progress))
    objective = Objective(
        name=args.objective, budget_ms=args.budget, budget_unit=args.budget_unit,
        max_worst_case_ms=args.max_worst_case_cost, cost_unit=args.cost_unit,
        policy=args.policy, accuracy_margin=args.accuracy_margin / 100.0,
        slo_p99_ms=args.slo_p99_ms, selection=args.selection, confidence=args.confidence,
    )
    space = SearchSpace(args.max_tiers, args.max_members, args.confidence_levels,
                        choose_classes=choose_classes)
    started = time.perf_counter()
    choice = choose(calib, pool, costs, tiers_gpu, objective, space, progress)
    search_seconds = time.perf_counter() - started
    test = PredSet(*pool_probs(pool, args.dataset, args.test_split, progress))
    result = evaluate(choice, test, costs, tiers_gpu, space)

    name = args.name or (Path(args.out).name.split(".")[0] if args.out else "planned-cascade")
    class_names = load_split(args.dataset, args.calibration_split).class_names
    config = to_cascade_config(
        choice.tiers, name=name, class_names=class_names, max_batch_size=args.batch_size,
        colocate_first_tier=not args.no_colocate_first_tier,
        budget=({"target": args.budget, "unit": args.budget_unit}
                if args.objective == "budget" and choice.family == "learned" else None),
    )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        dump_cascade(config, args.out)
    extra = {
        "dataset": args.dataset,
        "pool": pool,
        "searched_pool": choice.searched_pool,
        "classes": classes,
        "placement": "chosen per tier" if choose_classes else "by tier index (--tiers-gpu)",
        "rate_per_s": args.rate,
        "max_batch_size": args.batch_size,
        "batch_wait_timeout_s": BATCH_WAIT_TIMEOUT_S,
        "search_seconds": round(search_seconds, 2),
        "out": args.out,
    }
    report = summary(choice, result, objective, config.model_dump(mode="json", exclude_none=True),
                     extra, costs.emulated, costs, classes)
    if args.report_dir:
        folder = Path(args.report_dir)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "summary.json").write_text(json.dumps(report, indent=2))
        (folder / "table.md").write_text(markdown(report))
        plot_frontier(choice, result, folder / "frontier.png", costs.emulated)
    if args.json:
        print(json.dumps(report))
    else:
        print(markdown(report))
        if args.out:
            print(f"wrote {args.out}")
    sys.stdout.flush()
    return 0

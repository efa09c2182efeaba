"""`coe bench`: benchmarks that put the cascade next to the single best model.

A small dispatcher: each sub-command parses its flags here and hands a pydantic options
object to a module in load_tests/ that does the work (heavy imports happen there).
"""

from __future__ import annotations

import argparse
import json

from coe.cli_edge import register_bench as register_edge_bench
from foundation.paths import REPO_ROOT

DEFAULT_CASCADE = REPO_ROOT / "configs" / "cifar10-coe.yaml"
DEFAULT_BASELINE = REPO_ROOT / "configs" / "cifar10-single-best.yaml"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench", help="benchmarks: cascade vs single best (compare, hetero)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="bench_command", required=True)
    _register_compare(commands)
    _register_hetero(commands)
    _register_resplit(commands)
    from coe.cli_autoscale import register_bench

    register_bench(commands)
    register_edge_bench(commands)
    from coe.cli_bench_collage import register_collage

    register_collage(commands)
    _register_budget(commands)
    _register_budget_stream(commands)
    _register_replica_start(commands)


def _common(parser: argparse.ArgumentParser, out: str) -> None:
    parser.add_argument("--cascade", default=str(DEFAULT_CASCADE),
                        help="cascade config YAML (default: %(default)s)")
    parser.add_argument("--baseline", default=str(DEFAULT_BASELINE),
                        help="single-best baseline config YAML (default: %(default)s)")
    parser.add_argument("--out", default=out, help="report directory (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def _register_compare(commands: argparse._SubParsersAction) -> None:
    from load_tests.experiments.compare import CompareOptions

    d = CompareOptions.model_fields
    p = commands.add_parser(
        "compare", help="cascade vs single best on one local cluster, alternating windows",
        description="Deploy both apps on one local cluster, load them in alternating windows "
        "and print a ratio table (accuracy, p50/p99, max sustainable throughput, attributed "
        "and provisioned $/1k). GPU classes are EMULATED on a CPU-only machine.",
    )
    _common(p, "reports/compare")
    p.add_argument("--cluster", default=None,
                   help="cluster spec YAML (default: cluster/default_cluster.yaml; reused if "
                   "up). For an isolated run: load_tests/experiments/bench_cluster.yaml")
    p.add_argument("--slo-p99-ms", type=float, default=d["slo_p99_ms"].default,
                   help="p99 latency SLO of the rate search (default: %(default)s)")
    p.add_argument("--rate", type=float, default=d["rate"].default,
                   help="offered req/s of the fixed-rate windows (default: %(default)s)")
    p.add_argument("--window-s", type=float, default=d["window_s"].default,
                   help="length of one fixed-rate window (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=d["rounds"].default,
                   help="fixed-rate windows per app (default: %(default)s)")
    p.add_argument("--ladder", default=f"{d['ladder_start'].default:g}:"
                   f"{d['ladder_factor'].default:g}:{d['ladder_max'].default:g}",
                   help="rate search START:FACTOR:MAX req/s (default: %(default)s)")
    p.add_argument("--step-window-s", type=float, default=d["step_window_s"].default,
                   help="seconds per app per rate step (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=d["timeout_s"].default,
                   help="client timeout per request, s (default: %(default)s)")
    p.add_argument("--keep-cluster", action="store_true",
                   help="leave a cluster this command started running")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_compare_command)


def _ladder(text: str) -> tuple[float, float, float]:
    try:
        start, factor, top = (float(x) for x in text.split(":"))
    except ValueError:
        raise ValueError(f"--ladder {text!r}: expected START:FACTOR:MAX, e.g. 5:1.5:90") from None
    return start, factor, top


def run_compare_command(args: argparse.Namespace) -> int:
    from load_tests.experiments.compare import CompareOptions, render_table, run_compare

    start, factor, top = _ladder(args.ladder)
    options = CompareOptions(
        cascade=args.cascade, baseline=args.baseline, cluster_spec=args.cluster,
        slo_p99_ms=args.slo_p99_ms, rate=args.rate, window_s=args.window_s, rounds=args.rounds,
        ladder_start=start, ladder_factor=factor, ladder_max=top,
        step_window_s=args.step_window_s, timeout_s=args.timeout, out=args.out,
        keep_cluster=args.keep_cluster, progress=not args.no_progress,
    )
    report = run_compare(options)
    if args.json:
        print(json.dumps(report["table"], indent=1))
    else:
        print(f"\n{report['emulation_note']}\n")
        print(render_table(report["table"]))
        print(f"\nreport: {args.out}/compare.md and compare.json ({report['wall_seconds']} s)")
    return 0


def _register_hetero(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "hetero", help="single best on A100 only vs the cascade on T4/L4/A100: provisioned $ "
        "with replicas sized for the same load",
        description="Size both systems' replica counts for each offered load from measured "
        "per-member device time (EMULATED from CPU) and the cascade's exit distribution "
        "(offline replay on the test split), then compare provisioned $/1k.",
    )
    _common(p, "reports/hetero")
    p.add_argument("--loads", default="10,100,1000,10000",
                   help="offered loads to size for, req/s, comma-separated (default: "
                   "%(default)s)")
    p.add_argument("--target-utilisation", type=float, default=0.7,
                   help="size replicas to run at most this busy (default: %(default)s)")
    p.add_argument("--compare-report", default=None,
                   help="compare.json of a live run: use its measured exit distribution "
                   "instead of the offline replay")
    p.set_defaults(func=run_hetero_command)


def run_hetero_command(args: argparse.Namespace) -> int:
    from load_tests.experiments.hetero import HeteroOptions, render_markdown, run_hetero

    try:
        loads = [float(x) for x in args.loads.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--loads {args.loads!r}: expected numbers like 10,100,1000") from None
    options = HeteroOptions(
        cascade=args.cascade, baseline=args.baseline, loads=loads,
        target_utilisation=args.target_utilisation, compare_report=args.compare_report,
        out=args.out,
    )
    report = run_hetero(options)
    print(json.dumps(report, indent=1) if args.json else render_markdown(report))
    return 0


def _register_resplit(commands: argparse._SubParsersAction) -> None:
    from load_tests.experiments.resplit import ResplitOptions

    d = ResplitOptions.model_fields
    p = commands.add_parser(
        "resplit", help="re-split the labelled images 10x: does the match-best plan hold?",
        description="Re-split calibration+test (10,000 labelled images) into halves, plan on "
        "one, score on the other; count how often the plan's test accuracy >= the single "
        "best's, and the same-footing $ ratio. EMULATED GPU classes.",
    )
    p.add_argument("--pool", default=d["pool"].default)
    p.add_argument("--resplits", type=int, default=d["resplits"].default)
    p.add_argument("--rate", type=float, default=d["rate"].default,
                   help="req/s the plans are priced at (default: %(default)s)")
    p.add_argument("--selection", default=d["selection"].default, choices=["bootstrap", "point"])
    p.add_argument("--confidence", type=float, default=d["confidence"].default)
    p.add_argument("--policy", default=d["policy"].default,
                   choices=["agreement", "confidence", "any"])
    p.add_argument("--out", default="reports/resplit", help="report directory")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_resplit_command)


def run_resplit_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from load_tests.experiments.resplit import ResplitOptions, run_resplit

    options = ResplitOptions(
        pool=args.pool, resplits=args.resplits, rate=args.rate, selection=args.selection,
        confidence=args.confidence, policy=args.policy,
    )
    report = run_resplit(options, progress=not args.no_progress)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "resplit.json").write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps({k: report[k] for k in ("resplits", "held", "ratios", "median_ratio")}))
    else:
        print(f"plan held (test accuracy >= single best) in {report['held']}/"
              f"{report['resplits']} resplits; median cost ratio {report['median_ratio']:.2f}x "
              f"({report['footing']})\n{report['note']}\nreport: {out / 'resplit.json'}")
    return 0


def _register_budget(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "budget", help="learned (EENet) cascades at 5 budgets: realised cost and accuracy",
        description="Offline on cached predictions: learned exit schedulers trained and "
        "thresholded on calibration to spend B device-ms per image, scored on test, next to "
        "agreement and confidence cascades at the same cost. EMULATED GPU classes.",
    )
    p.add_argument("--pool", default="all")
    p.add_argument("--rate", type=float, default=20.0, help="req/s the plans are priced at")
    p.add_argument("--fractions", default="0.5,0.75,1.0,1.25,1.5",
                   help="5 budgets as fractions of the agreement plan's cost")
    p.add_argument("--out", default="reports/budget", help="report directory")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_budget_command)


def run_budget_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from load_tests.experiments.budget import BudgetOptions, run_budget

    try:
        fractions = [float(x) for x in args.fractions.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--fractions {args.fractions!r}: expected 5 numbers") from None
    options = BudgetOptions(pool=args.pool, rate=args.rate, fractions=fractions, out=args.out)
    report = run_budget(options, progress=not args.no_progress)
    out = Path(args.out)
    (out / "budget.json").write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps({k: report[k] for k in ("budgets", "at_match_best_cost")}))
    else:
        for row, ratio in zip(report["budgets"], report["adherence"], strict=True):
            print(f"B={row['target']:.4f} R={row['realized_test']} R/B={ratio} "
                  f"acc={row['accuracy_test']}")
        print(f"at the agreement plan's cost: {report['at_match_best_cost']}")
        print(f"{report['unit']}; report: {out / 'budget.json'}, {out / 'frontier.png'}")
    return 0


def _register_budget_stream(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "budget-stream", help="shifted stream, budget keeper on vs off (OFFLINE, or --live)",
        description="Replay cached test predictions as a stream whose share of hard images "
        "rises mid-run, through a learned cascade with static thresholds and with the "
        "online budget keeper; JSON report and a plot of realised cost over time. "
        "Simulated, not served; EMULATED GPU classes. With --live: the same stream over "
        "HTTP to the plan deployed twice (keeper off, keeper on) on a private Ray Serve "
        "with the real models, after checking served exits against planner.simulate "
        "(device time EMULATED from CPU time).",
    )
    p.add_argument("--cascade", required=True,
                   help="learned cascade YAML with a budget section (coe plan --policy "
                   "learned --objective budget --out ...)")
    p.add_argument("--images", type=int, default=None,
                   help="stream length (default: 8000 offline, 4000 --live)")
    p.add_argument("--hard-share-after", type=float, default=0.5)
    p.add_argument("--keeper-gain", type=float, default=None,
                   help="keeper gain (logits per unit of relative error; default: the "
                   "config's; offline only)")
    p.add_argument("--live", action="store_true",
                   help="run against a private local Ray Serve with the real models")
    p.add_argument("--check-images", type=int, default=1000,
                   help="--live: test images of the agreement check (default: %(default)s)")
    p.add_argument("--target", type=float, default=None,
                   help="--live: B of both live apps, in the config's unit (default: the "
                   "config's; the live EMULATED cost scale may differ from the planned one)")
    p.add_argument("--port", type=int, default=18460,
                   help="--live: Serve HTTP port on 127.0.0.1 (default: %(default)s)")
    p.add_argument("--out", default=None,
                   help="report directory (default: reports/budget_stream, --live: "
                   "reports/budget_live)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_budget_stream_command)


def run_budget_stream_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from load_tests.experiments.budget_stream import StreamOptions, run_stream

    if args.live:
        return run_budget_live_command(args)
    args.out = args.out or "reports/budget_stream"
    options = StreamOptions(cascade=args.cascade, images=args.images or 8000,
                            hard_share_after=args.hard_share_after, out=args.out,
                            keeper_gain=args.keeper_gain)
    report = run_stream(options, progress=not args.no_progress)
    out = Path(args.out)
    (out / "budget_stream.json").write_text(json.dumps(report, indent=2) + "\n")
    summary = {name: {k: run[k] for k in ("before_shift", "after_shift", "after_shift_settled")}
               for name, run in report["runs"].items()}
    if args.json:
        print(json.dumps({"target": report["target"], "runs": summary,
                          "within_10pct": report["within_10pct"]}))
    else:
        print(report["simulated"])
        print(json.dumps(summary, indent=1))
        print(f"report: {out / 'budget_stream.json'}, {out / 'realized_cost.png'}")
    return 0


def run_budget_live_command(args: argparse.Namespace) -> int:
    from load_tests.experiments.budget_live import LiveOptions, run_live

    if args.keeper_gain is not None:
        raise ValueError("--keeper-gain: offline only (live, the keeper runs the config's "
                         "budget.keeper settings)")
    options = LiveOptions(cascade=args.cascade, images=args.images or 4000,
                          hard_share_after=args.hard_share_after, check_images=args.check_images,
                          port=args.port, target=args.target,
                          out=args.out or "reports/budget_live")
    report = run_live(options, progress=not args.no_progress)
    keys = ("before_shift", "after_shift", "after_shift_settled")
    summary = {
        "target": report["target"], "unit": report["unit"],
        "check_agreement": report["check_agreement"],
        "runs": {name: {k: run[k] for k in keys} for name, run in report["runs"].items()},
        "within_10pct_after_shift": report["within_10pct_after_shift"],
        "wall_seconds": report["wall_seconds"],
    }
    if not args.json:
        print(report["live"])
    print(json.dumps(summary, indent=None if args.json else 1))
    if not args.json:
        print(f"report: {options.out}/report.json, {options.out}/budget_live.png")
    return 0


def _register_replica_start(commands: argparse._SubParsersAction) -> None:
    from load_tests.experiments.replica_start import ReplicaStartOptions

    d = ReplicaStartOptions.model_fields
    p = commands.add_parser(
        "replica-start", help="CPU a new member replica spends starting (what a restart or "
        "a scale-up takes from a serving host)",
        description="The member deployment's constructor in fresh processes, alternating "
        "with a variant that also imports torchvision (the old start-up); medians and ratio.",
    )
    p.add_argument("--model", default=d["model"].default)
    p.add_argument("--rounds", type=int, default=d["rounds"].default)
    p.add_argument("--out", default=d["out"].default,
                   help="report directory (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_replica_start)


def _run_replica_start(args: argparse.Namespace) -> int:
    from load_tests.experiments.replica_start import ReplicaStartOptions, run_replica_start

    options = ReplicaStartOptions(model=args.model, rounds=args.rounds, out=args.out)
    report = run_replica_start(options, progress=not (args.json or args.no_progress))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for variant in ("member", "with_torchvision"):
            row = report[variant]
            print(f"{variant:17s} cpu_s median {row['cpu_s_median']} wall_s median "
                  f"{row['wall_s_median']} (torch._dynamo imported: "
                  f"{row['torch_dynamo_imported']})")
        print(f"cpu ratio member / with_torchvision: "
              f"{report['cpu_ratio_member_over_with_torchvision']}")
    return 0

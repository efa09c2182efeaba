"""`coe bench collage`: collage inference vs replication vs no redundancy under stragglers."""

from __future__ import annotations

import argparse
import json


def register_collage(commands: argparse._SubParsersAction) -> None:
    from load_tests.experiments.collage_bench import CollageBenchOptions

    d = CollageBenchOptions.model_fields
    p = commands.add_parser(
        "collage",
        help="no redundancy vs replication vs collage inference, stragglers injected",
        description="Private Ray + Serve on 127.0.0.1 (GPU classes EMULATED), one app per "
        "mode, same Poisson load, a fraction of member calls delayed; prints p50/p99, "
        "accuracy, extra device-ms per prediction and collage answers per mode.",
    )
    p.add_argument("--port", type=int, default=d["port"].default,
                   help="Serve HTTP port (default: $COE_TEST_SERVE_PORT or %(default)s)")
    p.add_argument("--rate", type=rate_arg, default=d["rate"].default,
                   help="offered requests/s, or 'auto' (default): --capacity-share x the "
                   "capacity of the no-fault no-redundancy app, measured first")
    p.add_argument("--capacity-share", type=float, default=d["capacity_share"].default,
                   help="auto rate: share of the measured capacity (default: %(default)s)")
    p.add_argument("--requests", type=int, default=d["requests"].default)
    p.add_argument("--warmup", type=int, default=d["warmup"].default)
    p.add_argument("--fault-fraction", type=float, default=d["fault_fraction"].default)
    p.add_argument("--fault-factor", type=float, default=d["fault_factor"].default)
    p.add_argument("--grid", type=int, default=d["grid"].default, choices=(2, 3))
    p.add_argument("--straggler-timeout-ms", default=d["straggler_timeout_ms"].default,
                   help="fixed ms or 'adaptive' (default: %(default)s)")
    p.add_argument("--adaptive-margin", type=float, default=d["adaptive_margin"].default,
                   help="adaptive timeout = margin x the member's recent p95 (default: "
                   "%(default)s)")
    p.add_argument("--peer-lag-margin", type=float, default=None,
                   help="a member is a straggler once this many times its usual lag (p95) "
                   "behind the tier's first answer (default: off, the adaptive timeout)")
    p.add_argument("--collage-class", default=d["collage_gpu_class"].default,
                   help="the collage deployment's GPU class (default: %(default)s, the "
                   "protected tier's, so extra device time compares on one device)")
    p.add_argument("--window-ms", type=float, default=d["window_ms"].default,
                   help=d["window_ms"].description)
    p.add_argument("--fixed-window", action="store_true",
                   help="always wait --window-ms (default: the window is shortened so the "
                   "cells are back by the earliest straggler timeout)")
    p.add_argument("--eager-collage", action="store_true",
                   help="back up every image, as the paper does (default: only the images "
                   "still waiting on a member when the window ends)")
    p.add_argument("--rounds", type=int, default=d["rounds"].default,
                   help="alternating windows per app (default: %(default)s)")
    p.add_argument("--no-clean-runs", action="store_true", help="skip the no-fault runs")
    p.add_argument("--no-aa-control", action="store_true",
                   help="skip the second no-redundancy app that shows the noise floor of "
                   "the no-fault p50 ratio")
    p.add_argument("--out", default=d["out"].default)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (as every other coe bench; --json implies it)")
    p.set_defaults(func=run_collage_command)

    s = commands.add_parser(
        "collage-summary",
        help="saved collage bench reports side by side: the p99 check and its no-fault floor",
        description="For each report: the collage p99 with faults, and without any fault, "
        "over the no-redundancy p99 with faults. The no-fault figure is about the lowest "
        "the 0.5x p99 check can reach in that run (a noisy reference, not a bound).",
    )
    s.add_argument("reports", nargs="+", help="collage_bench.json files")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(func=run_collage_summary_command)


def rate_arg(text: str) -> float | str:
    return text if text == "auto" else float(text)


def run_collage_command(args: argparse.Namespace) -> int:
    from load_tests.experiments.collage_bench import CollageBenchOptions, run_collage_bench

    timeout = args.straggler_timeout_ms
    options = CollageBenchOptions(
        port=args.port, rate=args.rate,
        capacity_share=args.capacity_share, requests=args.requests, warmup=args.warmup,
        fault_fraction=args.fault_fraction, fault_factor=args.fault_factor, grid=args.grid,
        straggler_timeout_ms=timeout if timeout == "adaptive" else float(timeout),
        adaptive_margin=args.adaptive_margin, peer_lag_margin=args.peer_lag_margin,
        collage_gpu_class=args.collage_class,
        window_ms=args.window_ms, ready_by_timeout=not args.fixed_window, rounds=args.rounds,
        clean_runs=not args.no_clean_runs, aa_control=not args.no_aa_control,
        skip_answered=not args.eager_collage,
        out=args.out,
    )
    report = run_collage_bench(options, progress=not (args.json or args.no_progress))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for mode in ("no_redundancy", "replication", "collage"):
            row = report[mode]
            print(f"{mode:14s} p50={row['p50_ms']} p99={row['p99_ms']} acc={row['accuracy']} "
                  f"extra_device_ms/pred={row['extra_device_ms_per_prediction']} (emulated) "
                  f"collage_answers={row['collage_answers']}")
        print(f"{report['setup']['faults']}; checks: {report['checks']}")
        print(f"report: {options.out}/collage_bench.json")
    return 0


def run_collage_summary_command(args: argparse.Namespace) -> int:
    from load_tests.experiments.collage_floor import summarise_reports

    summary = summarise_reports(args.reports)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{'report':48s} {'faulted':>8s} {'floor':>8s} {'none nf':>8s}  check")
    for row in summary["rows"]:
        print(f"{row['report'][-48:]:48s} {row['collage_faulted']!s:>8s} "
              f"{row['collage_no_fault_floor']!s:>8s} {row['no_redundancy_no_fault']!s:>8s}  "
              f"{'held' if row['check_held'] else 'missed'}")
    print(f"{summary['runs']} runs: check held in {summary['check_held']}; the no-fault floor "
          f"was above the 0.5 target in {summary['floor_above_target']}, and the check held "
          f"in {summary['check_held_with_floor_above_target']} of those (median floor "
          f"{summary['floor_median']})")
    return 0

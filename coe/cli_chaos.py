"""`coe chaos`: one command that shows coe-serve keeps its promises under faults.

Starts a private local Ray + Serve on 127.0.0.1 (stopped again at the end), deploys
load_tests/chaos/chaos_cascade.yaml and runs: bad inputs by kind, capacity, 3x overload for
30 s, recovery, and replica kills (Ray actor API) under load. Writes one JSON report with
load held, faults injected, bad inputs and their statuses, requests lost (must be 0),
5xx answers to bad input (must be 0) and the recovery time after each replica kill.
Exit code 0 only if nothing was lost, no bad input got a 5xx and every kill recovered.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "chaos",
        help="fault, bad-input and overload run with a JSON report (about 2-3 minutes)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, default=None,
                        help="cascade YAML (default: load_tests/chaos/chaos_cascade.yaml)")
    parser.add_argument("--port", type=int, default=18420,
                        help="Serve HTTP port on 127.0.0.1 (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None,
                        help="report path (default: reports/chaos-<UTC time>/report.json)")
    parser.add_argument("--overload-seconds", type=float, default=30.0)
    parser.add_argument("--overload-factor", type=float, default=3.0,
                        help="offered load as a multiple of measured capacity")
    parser.add_argument("--chaos-seconds", type=float, default=30.0)
    parser.add_argument("--kills", type=int, default=3, help="replica kills during chaos")
    parser.add_argument("--capacity-seconds", type=float, default=8.0)
    parser.add_argument("--probe-rounds", type=int, default=3,
                        help="times each bad input is sent")
    parser.add_argument("--json", action="store_true", help="print the report on stdout")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run_chaos_command)


def run_chaos_command(args: argparse.Namespace) -> int:
    from load_tests.chaos.run import DEFAULT_CONFIG, ChaosOptions, run_chaos

    if args.kills < 1 or args.overload_seconds <= 0 or args.chaos_seconds <= 0:
        raise ValueError("--kills must be >= 1 and durations > 0")
    options = ChaosOptions(
        config=args.config or DEFAULT_CONFIG, port=args.port,
        capacity_seconds=args.capacity_seconds, overload_seconds=args.overload_seconds,
        overload_factor=args.overload_factor, chaos_seconds=args.chaos_seconds,
        kills=args.kills, probe_rounds=args.probe_rounds, progress=not args.no_progress,
    )
    report = run_chaos(options)
    out = args.out or Path("reports") / f"chaos-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    out = out if out.suffix == ".json" else out / "report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        _print_summary(report, out)
    return 0 if report["verdict"]["ok"] else 1


def _print_summary(report: dict, out: Path) -> None:
    held, over = report["load_held"], report["overload"]
    recovery = report["recovery_after_replica_kill_s"]
    print(f"capacity {held['capacity_rps']:.1f} req/s; overload offered "
          f"{held['overload_offered_rps']:.1f} req/s for {held['overload_seconds']:.0f} s: "
          f"{over['status_counts']}, p99 admitted {over['p99_admitted_ms']:.0f} ms "
          f"(bound {over['p99_bound_ms']:.0f} ms), 503 p99 {over['latency_503_ms']['p99_ms']} ms")
    windows = ", ".join(f"{w['from_s']:.0f}s: {w['p99_ms']:.0f}" for w in over["p99_by_10s_window"])
    print(f"admitted p99 ms per 10-s window {windows}; bounded={over['p99_bounded']}")
    print(f"chaos {held['chaos_offered_rps']:.1f} req/s for {held['chaos_seconds']:.0f} s: "
          f"{report['chaos']['status_counts']}, "
          f"faults {report['faults_injected']['by_kind']}, recovery s {recovery['each']}")
    bad = report["bad_inputs"]
    print(f"bad inputs tried {bad['tried']} ({len(bad['by_kind'])} kinds), "
          f"5xx {bad['responses_5xx']}; requests lost {report['verdict']['requests_lost']}")
    print(f"verdict ok={report['verdict']['ok']}; report: {out}")

"""`coe chaos`: one command that shows coe-serve keeps its promises under faults.

Starts a private local Ray + Serve on 127.0.0.1 (stopped again at the end), deploys
load_tests/chaos/chaos_cascade.yaml and runs: bad inputs by kind, capacity, 3x overload for
30 s, recovery, and replica kills (Ray actor API) under load. Writes one JSON report with
load held, faults injected, bad inputs and their statuses, requests lost (must be 0),
5xx answers to bad input (must be 0) and the recovery time after each replica kill. Then
a pixel-bomb flood (/healthz p99 <= 100 ms, classify p99 <= 2x unattacked) and a quorum
phase (a tier-0 member slowed past its timeout: accuracy of the 200s >= unfaulted - 1
point, no below-quorum image exits silently).
Exit code 0 only if nothing was lost, no bad input got a 5xx, every kill recovered and
both attack phases held.
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
    parser.add_argument("--kills", type=int, default=3,
                        help="replica kills during chaos (0: none, e.g. for a config whose "
                        "members have one replica each, like the shipped ones)")
    parser.add_argument("--no-attacks", action="store_true",
                        help="skip the pixel-bomb and quorum phases (e.g. a colocated tier 0 "
                        "has no member deployment to slow)")
    parser.add_argument("--capacity-seconds", type=float, default=8.0)
    parser.add_argument("--probe-rounds", type=int, default=3,
                        help="times each bad input is sent")
    parser.add_argument("--bomb-seconds", type=float, default=10.0,
                        help="pixel-bomb phase: seconds with and without the attack")
    parser.add_argument("--quorum-images", type=int, default=1000,
                        help="quorum phase: test-half images (never calibrated on) answered "
                        "once without and once with the fault, paired")
    parser.add_argument("--soak", default=None, metavar="DURATION",
                        help="soak instead of the phases: e.g. 20m at 0.7x capacity, a member "
                        "replica killed every 2 min, bad inputs + pixel bombs every minute, "
                        "RSS sampled every 10 s (load_tests/chaos/soak.py)")
    parser.add_argument("--soak-kill-every", type=float, default=120.0, metavar="SECONDS",
                        help="--soak: seconds between replica kills; 0 = none (a baseline "
                        "soak: how much the p99 moves on this host without faults)")
    parser.add_argument("--soak-burst-every", type=float, default=60.0, metavar="SECONDS",
                        help="--soak: seconds between bad-input + pixel-bomb bursts; 0 = none")
    parser.add_argument("--soak-capacity-seconds", type=float, default=30.0,
                        metavar="SECONDS",
                        help="--soak: length of the closed-loop capacity measurement that "
                        "sets the soak's 0.7x load (default: %(default)s; the phases' "
                        "--capacity-seconds, 8, read 32-52 req/s over seven soaks)")
    parser.add_argument("--json", action="store_true", help="print the report on stdout")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run_chaos_command)
    limits = subparsers.add_parser(
        "limits",
        help="ingress queue limits from measured capacity (a `coe chaos` report)",
        description="Derive max_ongoing_requests / max_queued_requests / max_inflight_images "
        "so that coe chaos's overload p99 bound stays within --target-p99-ms "
        "(load_tests/chaos/limits.py). Figures come from a measured run.",
    )
    limits.add_argument("--report", type=Path, default=None,
                        help="a `coe chaos` report.json (capacity and its p99)")
    limits.add_argument("--capacity-rps", type=float, default=None)
    limits.add_argument("--service-p99-ms", type=float, default=None)
    limits.add_argument("--images-per-request", type=float, default=1.0)
    limits.add_argument("--target-p99-ms", type=float, required=True)
    limits.add_argument("--routing-queue", type=int, default=None,
                        help="Serve's queue in front of the ingress (default 16); measure "
                        "with coe chaos which depth admits most under overload")
    limits.set_defaults(func=run_limits_command)


def run_limits_command(args: argparse.Namespace) -> int:
    from load_tests.chaos.limits import (
        ROUTING_QUEUE,
        MeasuredCapacity,
        measured_from_chaos_report,
        queue_limits,
    )

    if args.report is not None:
        measured = measured_from_chaos_report(json.loads(args.report.read_text()))
        measured = measured.model_copy(update={"images_per_request": args.images_per_request})
    elif args.capacity_rps is not None and args.service_p99_ms is not None:
        measured = MeasuredCapacity(capacity_rps=args.capacity_rps,
                                    service_p99_ms=args.service_p99_ms,
                                    images_per_request=args.images_per_request)
    else:
        raise ValueError("give --report, or both --capacity-rps and --service-p99-ms")
    routing = ROUTING_QUEUE if args.routing_queue is None else args.routing_queue
    result = queue_limits(measured, args.target_p99_ms, routing_queue=routing)
    print(json.dumps({"measured": measured.model_dump(), "ingress": result.model_dump()},
                     indent=2))
    return 0


def chaos_options(args: argparse.Namespace):
    """The ChaosOptions the parsed flags ask for (checked)."""
    from load_tests.chaos.run import DEFAULT_CONFIG, ChaosOptions
    from load_tests.chaos.soak import parse_duration

    if args.kills < 0 or args.overload_seconds <= 0 or args.chaos_seconds <= 0:
        raise ValueError("--kills must be >= 0 and durations > 0")
    if args.soak_kill_every < 0 or args.soak_burst_every < 0:
        raise ValueError("--soak-kill-every and --soak-burst-every must be >= 0 (0 = off)")
    if args.soak_capacity_seconds <= 0:
        raise ValueError("--soak-capacity-seconds must be > 0")
    return ChaosOptions(
        config=args.config or DEFAULT_CONFIG, port=args.port,
        capacity_seconds=args.capacity_seconds, overload_seconds=args.overload_seconds,
        overload_factor=args.overload_factor, chaos_seconds=args.chaos_seconds,
        kills=args.kills, probe_rounds=args.probe_rounds, progress=not args.no_progress,
        bomb_seconds=args.bomb_seconds, quorum_images=args.quorum_images,
        attacks=not args.no_attacks,
        soak_seconds=parse_duration(args.soak) if args.soak else None,
        soak_kill_every_s=args.soak_kill_every, soak_burst_every_s=args.soak_burst_every,
        soak_capacity_seconds=args.soak_capacity_seconds,
    )


def run_chaos_command(args: argparse.Namespace) -> int:
    from load_tests.chaos.run import run_chaos

    options = chaos_options(args)
    report = run_chaos(options)
    out = args.out or Path("reports") / f"chaos-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    out = out if out.suffix == ".json" else out / "report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    elif report.get("mode") == "soak":
        print(json.dumps(report["verdict"], indent=2))
        print(f"report: {out}")
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

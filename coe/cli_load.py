"""`coe load`: drive a running coe-serve endpoint with real JPEG test images and report.

Writes report.json, report.md and plots into --out. With --cascade and --ray-address the
replica counts are sampled from Serve during the run, which adds provisioned $/1k and
utilisation to the attributed figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from coe.cli_edge import add_edge_flags, run_edge_load


def register(subparsers: argparse._SubParsersAction) -> None:
    from load_tests.client.schedules import SCHEDULE_HELP

    parser = subparsers.add_parser(
        "load",
        help="load-test a coe-serve endpoint and report accuracy, latency and $/1k",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000/v1/classify",
                        help="the classify endpoint (default: %(default)s)")
    parser.add_argument("--schedule", default="closed:4", help=SCHEDULE_HELP)
    parser.add_argument("--max-requests", type=int, default=1000,
                        help="stop after this many requests (default: %(default)s)")
    parser.add_argument("--max-seconds", type=float, default=60.0,
                        help="send nothing after this many seconds (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="client timeout per request, seconds (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None,
                        help="report directory (default: reports/load-<UTC time>)")
    parser.add_argument("--json", action="store_true",
                        help="print the summary as JSON on stdout")
    parser.add_argument("--images", type=int, default=1000,
                        help="distinct test images to cycle through (default: %(default)s)")
    parser.add_argument("--images-dir", type=Path, default=None,
                        help="folder of <class>/*.jpg "
                        "(default: $COE_ASSETS/data/cifar10-jpeg/test)")
    parser.add_argument("--seed", type=int, default=0, help="seed of open-loop arrivals")
    parser.add_argument("--pricing", choices=["on-demand", "spot"], default="on-demand")
    parser.add_argument("--catalog", default=None, help="GPU catalog YAML (default: bundled)")
    parser.add_argument("--cascade", type=Path, default=None,
                        help="cascade YAML of the deployed app (enables provisioned cost)")
    parser.add_argument("--ray-address", default=None,
                        help="Ray cluster to sample replicas from, e.g. 127.0.0.1:6380")
    parser.add_argument("--app-name", default=None, help="Serve application to sample")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_edge_flags(parser)  # --edge: N edge-client processes vs all-cloud, same images
    parser.add_argument("--clients", type=int, default=2, help="--edge: client processes")
    parser.set_defaults(func=run_load_command)


def _sampler(args: argparse.Namespace):
    """A Serve replica sampler if --cascade and --ray-address were given, else None."""
    if args.cascade is None and args.ray_address is None:
        return None
    if args.cascade is None or args.ray_address is None:
        raise ValueError("--cascade and --ray-address go together (both are needed to sample "
                         "replicas for the provisioned cost)")
    import ray

    from cascade.config import load_cascade
    from load_tests.client.replica_sampler import ServeReplicaSampler, placement_from_cascade

    config = load_cascade(args.cascade, check_models=False, catalog=args.catalog)
    ray.init(address=args.ray_address, logging_level="ERROR", log_to_driver=False)
    return ServeReplicaSampler(placement_from_cascade(config), app_name=args.app_name)


def run_load_command(args: argparse.Namespace) -> int:
    if args.edge:
        return run_edge_load(args)
    from cost_model.prices import PriceTable
    from load_tests.client.generator import run_load
    from load_tests.client.images import load_request_images
    from load_tests.client.report import write_report
    from load_tests.client.schedules import parse_schedule

    if args.max_requests < 1:
        raise ValueError(f"--max-requests must be >= 1, got {args.max_requests}")
    if args.max_seconds <= 0 or args.timeout <= 0:
        raise ValueError("--max-seconds and --timeout must be > 0")
    schedule = parse_schedule(args.schedule, seed=args.seed)
    prices = PriceTable.from_path(args.catalog, kind=args.pricing)
    images = load_request_images(args.images, root=args.images_dir)
    out = args.out or Path("reports") / time.strftime("load-%Y%m%dT%H%M%SZ", time.gmtime())
    sampler = _sampler(args)
    result = run_load(
        args.url, images, schedule, max_requests=args.max_requests,
        max_seconds=args.max_seconds, timeout_s=args.timeout,
        progress=not args.no_progress, prices=prices, sampler=sampler,
    )
    paths = write_report(result, out)
    summary = result.summary
    if args.json:
        print(json.dumps(summary.model_dump(mode="json"), indent=1))
    else:
        cost = summary.cost
        per_1k = cost.attributed_usd_per_1k
        accuracy = "n/a" if summary.accuracy is None else f"{summary.accuracy * 100:.2f}%"
        p99 = "n/a" if summary.latency.p99_ms is None else f"{summary.latency.p99_ms:.1f} ms"
        print(f"sent {summary.sent}: ok {summary.ok}, errors {summary.errors}, "
              f"timeouts {summary.timeouts}, status {summary.status_counts}")
        print(f"accuracy {accuracy}, p99 {p99}, attributed $/1k "
              f"{'n/a' if per_1k is None else f'{per_1k:.6f}'}"
              f"{' (EMULATED GPU classes)' if cost.emulated else ''}")
        print(f"report: {paths['markdown']}")
    if summary.sent and summary.ok == 0:
        print("coe load: error: no request succeeded (see report.md)", file=sys.stderr)
        return 1
    return 0

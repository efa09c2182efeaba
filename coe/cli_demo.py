"""`coe demo`: cascade vs single best over HTTP on a local heterogeneous cluster."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="deploy the default cascade and the single best model, compare over HTTP"
    )
    parser.add_argument("--cascade", help="cascade config (default configs/cifar10-coe.yaml)")
    parser.add_argument("--baseline", help="baseline config (default: single best, resnet56)")
    parser.add_argument("--cluster", dest="cluster_spec", help="cluster spec YAML")
    parser.add_argument("--images", type=int, default=1000, help="test images sent to each app")
    parser.add_argument("--rate", type=float, default=None,
                        help="open-loop Poisson requests/s sent to each app (default: the "
                        "rate `coe plan` prices at)")
    parser.add_argument("--out", default="reports/demo", help="report folder")
    parser.add_argument("--keep-cluster", action="store_true", help="leave the cluster running")
    parser.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from cluster.local import ClusterStartError
    from coe.demo import DemoOptions, run_demo

    given = {k: v for k, v in vars(args).items() if k in DemoOptions.model_fields and v is not None}
    try:
        report = run_demo(DemoOptions(**given))
    except ClusterStartError as exc:
        print(f"coe demo: error: the local cluster did not start: {exc}", file=sys.stderr)
        return 2
    ok = all(app["ok"] == app["sent"] for app in report["apps"].values())
    return 0 if ok else 1

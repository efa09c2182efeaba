"""The edge tier from the command line: `coe classify --edge`, `coe load --edge`,
`coe bench edge`.

The flags are added to those commands by thin hooks in cli_serve, cli_load and cli_bench;
the work is in serve_app.edge_client (one client) and load_tests.edge (many, compared with
the all-cloud cascade on the same images).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from foundation.paths import REPO_ROOT

DEFAULT_CASCADE = REPO_ROOT / "configs" / "cifar10-coe.yaml"
START_ATTEMPTS = 3


def add_edge_flags(parser: argparse.ArgumentParser, with_switch: bool = True) -> None:
    """--edge (optional), --edge-tiers, --edge-class, --no-votes."""
    if with_switch:
        parser.add_argument("--edge", action="store_true",
                            help="run the first tier(s) here on the CPU; send only undecided "
                            "images (the server's weight hashes must match)")
    parser.add_argument("--edge-tiers", type=int, default=1,
                        help="tiers run on the client (default: %(default)s)")
    parser.add_argument("--edge-class", default=None,
                        help="catalog GPU class that prices edge time (EMULATED); default: "
                        "measured CPU time, unpriced")
    parser.add_argument("--no-votes", action="store_true",
                        help="do not send the edge tier's votes with escalated images")


def base_url(url: str) -> str:
    """The server's base URL from a base or a .../v1/classify URL."""
    url = url.rstrip("/")
    return url.removesuffix("/v1/classify")


def classify_edge(args: argparse.Namespace) -> int:
    """`coe classify --edge FILE...`: one edge client, one line per image."""
    from serve_app.edge_client import EdgeClient, EdgeRequestError

    files = [Path(name) for name in args.files]
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"no such image file: {path}")
    client = EdgeClient(base_url(args.url), args.edge_tiers, edge_class=args.edge_class,
                        send_votes=not args.no_votes, timeout_s=args.timeout)
    answers = []
    try:
        for path in files:
            answers.append(client.classify(path.read_bytes()))
    except EdgeRequestError as exc:
        print(f"coe classify --edge: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    if args.json:
        print(json.dumps([a.model_dump(mode="json") for a in answers], indent=2))
        return 0
    print(f"{'file':28} {'class':11} {'tier':8} {'at':6} {'up B':>6} {'down B':>7} "
          f"{'cloud $':>10} {'edge ms':>8} {'e2e ms':>7}")
    for path, a in zip(files, answers, strict=True):
        print(f"{path.name[:28]:28} {a.class_name[:11]:11} {a.exit_tier[:8]:8} "
              f"{a.answered_at:6} {a.bytes_up:6d} {a.bytes_down:7d} {a.cloud_usd:10.3e} "
              f"{a.edge_device_seconds * 1000:8.2f} {a.latency_ms:7.1f}")
    if any(a.cloud_emulated for a in answers):
        print("cloud $: device-seconds EMULATED from CPU time (no GPU); $ from catalog prices")
    return 0


def run_edge_load(args: argparse.Namespace) -> int:
    """`coe load --edge`: N edge-client processes vs the all-cloud cascade, same images."""
    from load_tests.client.images import load_request_images
    from load_tests.edge.compare import EdgeCompareOptions, compare, write_report

    options = EdgeCompareOptions(
        url=base_url(args.url), clients=args.clients, edge_tiers=args.edge_tiers,
        edge_class=args.edge_class, catalog=args.catalog, send_votes=not args.no_votes,
        timeout_s=args.timeout,
    )
    images = load_request_images(args.images, root=args.images_dir)
    report = compare(images, options, progress=not args.no_progress)
    path = write_report(report, args.out or Path("reports") / "edge-load")
    _print(report, args.json, path)
    return 0


def _print(report: dict, as_json: bool, path: Path) -> None:
    from load_tests.edge.compare import render_table

    if as_json:
        print(json.dumps(report, indent=1))
    else:
        print(render_table(report))
        print(f"report: {path}")


def register_bench(commands: argparse._SubParsersAction) -> None:
    """`coe bench edge` (called by coe.cli_bench)."""
    p = commands.add_parser(
        "edge", help="edge tier vs all-cloud on the same images (bytes, cloud $, accuracy)",
        description="Answer the same test images twice through one server: all-cloud "
        "(every image uploaded) and with the first tier on N edge-client processes. Prints "
        "upload bytes and cloud $ per 1k, accuracy, p50/p99 of each, and their agreement. "
        "Without --url it starts a private Ray + Serve on 127.0.0.1:--port and deploys "
        "--cascade (GPU classes EMULATED on a CPU-only machine).",
    )
    p.add_argument("--url", default=None, help="use this running server instead")
    p.add_argument("--port", type=int, default=8000,
                   help="Serve HTTP port of the private server (default: %(default)s)")
    p.add_argument("--cascade", default=str(DEFAULT_CASCADE),
                   help="cascade config YAML (default: %(default)s)")
    p.add_argument("--catalog", default=None, help="GPU catalog YAML (default: bundled)")
    p.add_argument("--images", type=int, default=1000,
                   help="test images, class-balanced (default: %(default)s)")
    p.add_argument("--images-dir", type=Path, default=None)
    p.add_argument("--clients", type=int, default=2,
                   help="edge client processes (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=60.0)
    add_edge_flags(p, with_switch=False)
    p.add_argument("--out", type=Path, default=Path("reports/edge"),
                   help="report directory (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_bench_edge)


def run_bench_edge(args: argparse.Namespace) -> int:
    from load_tests.client.images import load_request_images
    from load_tests.edge.compare import EdgeCompareOptions, compare, write_report

    images = load_request_images(args.images, root=args.images_dir)
    server = None if args.url else _PrivateServer(args.cascade, args.catalog, args.port)
    try:
        url = base_url(args.url) if args.url else server.start()
        options = EdgeCompareOptions(
            url=url, clients=args.clients, edge_tiers=args.edge_tiers,
            edge_class=args.edge_class, catalog=args.catalog, send_votes=not args.no_votes,
            timeout_s=args.timeout,
        )
        report = compare(images, options, progress=not args.no_progress)
    finally:
        if server is not None:
            server.stop()
    report["setup"]["cascade"] = args.cascade
    path = write_report(report, args.out)
    _print(report, args.json, path)
    return 0


class _PrivateServer:
    """A private local Ray + Serve on 127.0.0.1 with the cascade deployed (bench only)."""

    APP = "edge-bench"

    def __init__(self, cascade: str, catalog: str | None, port: int) -> None:
        self.cascade, self.catalog, self.port = cascade, catalog, port

    def start(self) -> str:
        import os

        import httpx
        import ray
        from ray import serve

        from cascade.config import load_cascade
        from coe.cli_serve import local_emulation_resources
        from serve_app.app import build_app
        from zoo.calibrate import ensure_calibration

        ensure_calibration()  # the emulation unit, once, before the replicas need it
        config = load_cascade(self.cascade, catalog=self.catalog)
        os.environ.pop("RAY_ADDRESS", None)
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                ray.init(namespace="coe-edge-bench", include_dashboard=False,
                         log_to_driver=False, logging_level="warning",
                         **local_emulation_resources(config, self.catalog))
                break
            except Exception as exc:  # Ray gives its raylet 30 s, too short on a busy host
                if attempt == START_ATTEMPTS or "timed out during startup" not in str(exc):
                    raise
                print(f"Ray did not start ({exc}); retrying", file=sys.stderr)
        serve.start(http_options={"host": "127.0.0.1", "port": self.port})
        serve.run(build_app({"config": self.cascade, "catalog": self.catalog}),
                  name=self.APP, route_prefix="/",
                  logging_config={"log_level": "WARNING", "enable_access_log": False})
        url = f"http://127.0.0.1:{self.port}"
        httpx.get(url + "/healthz", timeout=60).raise_for_status()
        print(f"private server up at {url} (GPU classes EMULATED)", file=sys.stderr)
        return url

    def stop(self) -> None:
        import ray
        from ray import serve

        if ray.is_initialized():
            # Ray echoes shutdown notices of its actors on stdout: keep stdout for --json
            with contextlib.redirect_stdout(sys.stderr):
                serve.shutdown()
                ray.shutdown()

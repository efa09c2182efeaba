"""`coe serve deploy|status|shutdown` and the tiny client `coe classify FILE...`."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

from coe.cli_edge import add_edge_flags, classify_edge

DEFAULT_URL = "http://127.0.0.1:8000"


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("serve", help="deploy a cascade to Ray Serve, inspect, stop")
    commands = group.add_subparsers(dest="serve_command", required=True)

    deploy = commands.add_parser("deploy", help="deploy a cascade config as a Serve application")
    deploy.add_argument("config", help="cascade YAML, e.g. configs/cifar10-coe.yaml")
    deploy.add_argument("--name", default="coe", help="Serve application name (default: coe)")
    deploy.add_argument("--route-prefix", default="/", help="HTTP route prefix (default: /)")
    _address_arg(deploy)
    deploy.add_argument(
        "--http-port", type=int, default=None,
        help="Serve HTTP port (default: the coe cluster's, else 8000)",
    )
    deploy.add_argument("--catalog", default=None, help="GPU catalog YAML (default: bundled)")
    deploy.add_argument(
        "--no-model-check", action="store_true", help="skip checking member names in the zoo"
    )
    deploy.add_argument(
        "--blocking", action="store_true",
        help="stay in the foreground until Ctrl-C (always so without a running cluster)",
    )
    deploy.set_defaults(func=cmd_deploy)

    status = commands.add_parser("status", help="Serve applications and deployment states")
    _address_arg(status)
    status.set_defaults(func=cmd_status)

    shutdown = commands.add_parser("shutdown", help="delete one application, or all of Serve")
    shutdown.add_argument("--name", default=None, help="application to delete (default: all)")
    _address_arg(shutdown)
    shutdown.set_defaults(func=cmd_shutdown)

    classify = subparsers.add_parser("classify", help="send images to a running cascade")
    classify.add_argument("files", nargs="+", help="JPEG or PNG files")
    classify.add_argument("--url", default=DEFAULT_URL, help=f"server (default {DEFAULT_URL})")
    classify.add_argument("--json", action="store_true", help="print the raw JSON response")
    classify.add_argument("--timeout", type=float, default=60.0)
    add_edge_flags(classify)
    classify.set_defaults(func=cmd_classify)


def _address_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--address", default="auto",
        help="Ray address; 'auto' = the running coe cluster, else a new local Ray",
    )


def local_emulation_resources(config, catalog_path: str | None = None) -> dict:
    """ray.init kwargs for a one-process Ray that EMULATES the config's GPU classes.

    Logical GPUs and `accelerator_type:<X>` resources only, so the tiers can be placed as
    they would be on a real cluster; the members then run on the CPU (emulated time).
    """
    import math
    import os

    from cluster.placement import DEFAULT_INGRESS_NUM_CPUS, DEFAULT_MEMBER_NUM_CPUS
    from cost_model.catalog import load_catalog

    catalog = load_catalog(catalog_path)
    members = [m for t in config.tiers for m in t.members]
    gpus = sum(m.gpu_fraction * m.replicas for m in members)
    cpus = DEFAULT_MEMBER_NUM_CPUS * sum(m.replicas for m in members)
    cpus += DEFAULT_INGRESS_NUM_CPUS * config.ingress.replicas
    return {
        "num_cpus": max(os.cpu_count() or 1, math.ceil(cpus) + 1),
        "num_gpus": math.ceil(gpus) + 1,
        "resources": {catalog.get(t.gpu_class).resource_name: 8 for t in config.tiers},
    }


def connect_ray(address: str, local_init: dict | None = None) -> tuple[bool, int | None]:
    """Attach to Ray; returns (joined an existing cluster, its Serve HTTP port if known)."""
    import ray

    if address != "auto":
        ray.init(address=address, namespace="coe")
        return True, None
    from cluster.local import connect
    from cluster.state import load_state, resolve_cluster_name

    try:
        state = load_state(resolve_cluster_name(None))
    except (FileNotFoundError, ValueError):
        state = None
    if state is None:
        print("no coe cluster is up: starting a local Ray instance in this process")
        if local_init:
            print(f"  GPU classes EMULATED with logical resources: {local_init['resources']}")
        ray.init(namespace="coe", **(local_init or {}))
        return False, None
    connect()
    return True, state.serve_http_port


def cmd_deploy(args: argparse.Namespace) -> int:
    from ray import serve

    from serve_app.app import BuildArgs, build_app, load_config

    build_args = BuildArgs(
        config=args.config, catalog=args.catalog, check_models=not args.no_model_check
    )
    app = build_app(build_args)  # validates the config before touching Ray
    emulation = local_emulation_resources(load_config(build_args), args.catalog)
    joined, cluster_port = connect_ray(args.address, local_init=emulation)
    port = args.http_port or cluster_port or 8000
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(app, name=args.name, route_prefix=args.route_prefix)
    prefix = args.route_prefix.rstrip("/")
    print(f"cascade {args.config!r} deployed as app {args.name!r}")
    print(f"  POST http://127.0.0.1:{port}{prefix}/v1/classify   GET {prefix}/v1/stats")
    print("  device-seconds are EMULATED on machines without GPUs (see /v1/stats note)")
    if args.blocking or not joined:
        if not joined:
            print("serving from this process (local Ray); Ctrl-C or SIGTERM stops it")
        wait_for_stop()
        if not joined:
            serve.shutdown()
        print("stopped")
    return 0


def _raise_interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def wait_for_stop() -> None:
    """Block until Ctrl-C or SIGTERM (background jobs may ignore SIGINT, so take both)."""
    import signal
    import time

    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return


def cmd_status(args: argparse.Namespace) -> int:
    from ray import serve

    joined, _ = connect_ray(args.address)
    if not joined:
        print("no running cluster to inspect", file=sys.stderr)
        return 1
    status = serve.status()
    for name, app in status.applications.items():
        print(f"app {name}: {app.status}")
        for dep_name, dep in app.deployments.items():
            print(f"  {dep_name}: {dep.status} {dict(dep.replica_states)}")
    return 0


def cmd_shutdown(args: argparse.Namespace) -> int:
    from ray import serve

    joined, _ = connect_ray(args.address)
    if not joined:
        print("no running cluster: nothing to shut down", file=sys.stderr)
        return 1
    from serve_app.policy_store import remove_stores

    if args.name:
        serve.delete(args.name)
        removed = remove_stores([args.name])
        print(f"deleted application {args.name!r} ({len(removed)} policy store removed)")
    else:
        serve.shutdown()
        removed = remove_stores()
        print(f"Serve shut down ({len(removed)} policy stores removed)")
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    import httpx

    if args.edge:
        return classify_edge(args)
    images = []
    for name in args.files:
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"no such image file: {path}")
        images.append(base64.b64encode(path.read_bytes()).decode("ascii"))
    url = args.url.rstrip("/") + "/v1/classify"
    try:
        response = httpx.post(url, json={"images": images}, timeout=args.timeout)
    except httpx.HTTPError as exc:
        print(f"coe classify: cannot reach {url}: {exc}", file=sys.stderr)
        return 1
    body = response.json() if response.headers.get("content-type", "").startswith(
        "application/json"
    ) else {"error": {"code": "http", "message": response.text[:200]}}
    if args.json:
        print(json.dumps(body, indent=2))
    if response.status_code != 200:
        error = body.get("error", {})
        code, message = error.get("code"), error.get("message")
        print(f"coe classify: HTTP {response.status_code} {code}: {message}", file=sys.stderr)
        return 1
    if not args.json:
        print_predictions(args.files, body["predictions"])
    return 0


def print_predictions(files: list[str], predictions: list[dict]) -> None:
    emulated = any(p["cost"].get("emulated") for p in predictions)
    print(f"{'file':30} {'class':12} {'conf':>6} {'tier':10} {'usd':>11} {'ms':>7}")
    for name, p in zip(files, predictions, strict=True):
        flag = "  DEGRADED: " + p["reason"] if p.get("degraded") else ""
        print(
            f"{Path(name).name[:30]:30} {p['class_name'][:12]:12} {p['confidence']:6.3f} "
            f"{p['exit_tier']['name'][:10]:10} {p['cost']['usd']:11.3e} {p['latency_ms']:7.1f}"
            + flag
        )
    if emulated:
        print("cost: device-seconds EMULATED from CPU time (no GPU); $ from the catalog prices")

"""`coe cluster up|status|down|env`: a local heterogeneous Ray cluster from a spec YAML."""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser(
        "cluster", help="start, inspect and stop a local multi-node Ray cluster"
    )
    commands = group.add_subparsers(dest="cluster_command", required=True)

    up = commands.add_parser(
        "up",
        help="start the head and one Ray node per pool node (logical GPUs per GPU class)",
    )
    up.add_argument("spec", nargs="?", help="cluster spec YAML (default: bundled default)")
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for nodes")
    up.add_argument("--json", action="store_true", help="print the recorded state as JSON")
    up.set_defaults(func=cmd_up)

    status = commands.add_parser("status", help="nodes, GPU classes and Serve replicas per node")
    status.add_argument("name", nargs="?", help="cluster name (default: the only one up)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)

    down = commands.add_parser(
        "down", help="stop only the processes `up` started (by PID; never `ray stop`)"
    )
    down.add_argument("name", nargs="?", help="cluster name (default: the only one up)")
    down.add_argument("--grace", type=float, default=30.0, help="seconds before SIGKILL")
    down.add_argument("--json", action="store_true", help="print the stop report as JSON")
    down.set_defaults(func=cmd_down)

    env = commands.add_parser(
        "env", help='print `export` lines to reach the cluster (eval "$(coe cluster env)")'
    )
    env.add_argument("name", nargs="?", help="cluster name (default: the only one up)")
    env.set_defaults(func=cmd_env)


def _describe_nodes(state) -> str:
    rows = []
    for node in state.nodes:
        where = (
            "CPU only (Serve controller, proxy, ingress)"
            if node.role == "head"
            else (
                f"{node.num_gpus} x {node.gpu_class} (resource accelerator_type:"
                f"{node.accelerator_type})"
            )
        )
        rows.append(
            f"  {node.name:<24} pid {node.pid:<7} node {(node.node_id or '?')[:8]}  "
            f"{node.num_cpus} CPUs  {where}"
        )
    return "\n".join(rows)


def cmd_up(args: argparse.Namespace) -> int:
    from cluster.local import ClusterStartError, up
    from cluster.status import EMULATION_NOTE

    try:
        # Ray's driver may print notices; keep stdout for our own output (JSON with --json).
        with contextlib.redirect_stdout(sys.stderr):
            state, started = up(args.spec, timeout_s=args.timeout, progress=sys.stderr.isatty())
    except ClusterStartError as exc:
        print(f"coe cluster up: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"started": started, **state.model_dump(mode="json")}, indent=2))
        return 0
    verb = "started" if started else "is already up (nothing started)"
    print(f"cluster {state.name} {verb}: address {state.address}, {len(state.nodes)} nodes")
    print(_describe_nodes(state))
    print(f"dashboard {state.dashboard_url}; Serve HTTP port {state.serve_http_port}")
    print(f"token auth on: token file {state.token_path}")
    print('use it from a shell: eval "$(coe cluster env)"; from Python: cluster.local.connect()')
    print(f"note: {EMULATION_NOTE}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    import ray

    from cluster.local import connect
    from cluster.quiet import quiet_init_kwargs
    from cluster.state import load_state, resolve_cluster_name
    from cluster.status import collect_status, format_status

    name = resolve_cluster_name(args.name)
    state = load_state(name)
    if state is None:
        print(
            f"cluster {name!r} is not up (no state file); start it with `coe cluster up`",
            file=sys.stderr,
        )
        return 1
    connect(name, **quiet_init_kwargs())
    try:
        status = collect_status(state)
    finally:
        ray.shutdown()
    if args.json:
        print(status.model_dump_json(indent=2))
    else:
        print(format_status(status))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from cluster.local import down
    from cluster.state import recorded_cluster_names

    if args.name is None and not recorded_cluster_names():
        print("no local cluster is up; nothing to stop")  # idempotent, like `up`
        return 0
    report = down(args.name, grace_s=args.grace)
    if args.json:
        print(json.dumps(report, indent=2))
    elif not report["was_up"]:
        print(f"cluster {report['cluster']} is not up (no state file); nothing to stop")
    else:
        print(
            f"cluster {report['cluster']} stopped: {len(report['terminated'])} processes exited "
            f"on SIGTERM, {len(report['killed'])} needed SIGKILL "
            f"(node roots {report['recorded_pids']})"
        )
    if report["left"]:
        print(f"coe cluster down: error: processes still alive: {report['left']}", file=sys.stderr)
        return 1
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    from cluster.local import CLUSTER_ENV_KEYS, ray_env

    env = ray_env(args.name)
    for key in CLUSTER_ENV_KEYS:
        if key in env:
            print(f"export {key}={shlex.quote(env[key])}")
    return 0

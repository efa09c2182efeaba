"""The `coe` command: one entry point, one module per command group.

Each group module exposes `register(subparsers)`; heavy imports (torch, ray) happen
inside the command functions, so `coe --help` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_GROUPS = (
    "coe.cli_zoo",
    "coe.cli_cluster",
    "coe.cli_serve",
    "coe.cli_demo",
    "coe.cli_plan",
    "coe.cli_load",
    "coe.cli_bench",
    "coe.cli_chaos",
    "coe.cli_kuberay",
    "coe.cli_doctor",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coe", description="Serve and plan cascades of ensembles on Ray Serve."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMAND_GROUPS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # command group not installed in this build
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        return 130
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"coe {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())

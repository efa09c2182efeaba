"""`coe doctor`: per tier, is its GPU class real here or emulated, and why.

Runs the same check every member replica runs at start (zoo.device.check_device) against
this machine's CUDA device, for each tier of a cascade. On a GPU node a tier whose class is
not the local GPU is reported as a mismatch: its figures would not be measured on the class
it is billed at.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    doctor = subparsers.add_parser(
        "doctor", help="per tier: is its GPU class real on this machine or emulated, and why"
    )
    doctor.add_argument("--cascade", default="configs/cifar10-coe.yaml", help="cascade YAML")
    doctor.add_argument("--catalog", default=None, help="GPU catalog YAML (default: bundled)")
    doctor.add_argument("--json", action="store_true", help="print ONE JSON object")
    doctor.set_defaults(func=cmd_doctor)


def tier_checks(config, catalog, cuda=None) -> list[dict]:
    """One row per tier: name, class, status (real / mismatch / emulated), reason, options."""
    from zoo.device import check_device

    rows = []
    for tier in config.tiers:
        check = check_device(tier.gpu_class, catalog, cuda=cuda)
        fp16 = [m.member_name for m in tier.members if m.fp16]
        if fp16 and check.device == "cpu":
            note = f"fp16 members ({', '.join(fp16)}) run fp32 without CUDA"
        else:
            note = ""
        rows.append({"tier": tier.name, **check.as_dict(), "note": note})
    return rows


def format_rows(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        lines.append(f"{row['tier']:<10} {row['gpu_class']:<10} {row['status'].upper():<9} "
                     f"{row['reason']}")
        if row["note"]:
            lines.append(f"{'':<31}{row['note']}")
    return "\n".join(lines)


def cmd_doctor(args: argparse.Namespace) -> int:
    from cascade.config import load_cascade
    from cost_model.catalog import load_catalog
    from serve_app.app import resolve_path

    config = load_cascade(resolve_path(args.cascade), check_models=False, catalog=args.catalog)
    rows = tier_checks(config, load_catalog(args.catalog))
    if args.json:
        print(json.dumps({"cascade": config.name, "tiers": rows}, indent=2))
    else:
        print(f"cascade {config.name}: GPU class of each tier on this machine")
        print(format_rows(rows))
    return 0

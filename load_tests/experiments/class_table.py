"""$ per 1k predictions of every model on every GPU class at batch 1 and batch 8.

Why: it shows where a small model stops gaining from a large GPU (its cost is the class's
floors times the class's price) and where a large model starts to (its work runs at the
class's peak). Same profile, device model and prices the planner uses. EMULATED classes.

Run: python -m load_tests.experiments.class_table [--out reports/class_table]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

BATCHES = (1, 8)


def class_table(models: list[str], classes: list[str], progress: bool = True) -> dict:
    """usd_per_1k[model][class][batch] and device_ms per image, from cached profiles."""
    from cost_model.device_time import emulation_note
    from planner.profile import cost_table, profile_pool

    profile = profile_pool(models, progress=progress)
    rows: dict[str, dict] = {}
    for model in models:
        layers = profile.members[model].layers
        rows[model] = {"layers": layers, "mflops": profile.members[model].mflops, "classes": {}}
        for batch in BATCHES:
            costs = cost_table(profile, classes, batch_size=batch)
            for gpu in classes:
                cell = rows[model]["classes"].setdefault(gpu, {})
                cell[f"usd_per_1k_batch{batch}"] = costs.member_usd(model, gpu) * 1000.0
                cell[f"device_ms_batch{batch}"] = costs.member_ms(model, gpu)
    rows["resnet50@224 (device model only)"] = _reference_row(classes)
    cheapest = {
        model: {
            f"batch{b}": min(classes, key=lambda g, m=model, b=b:
                             rows[m]["classes"][g][f"usd_per_1k_batch{b}"])
            for b in BATCHES
        }
        for model in rows
    }
    return {"note": emulation_note(True), "classes": classes, "models": rows,
            "cheapest_class": cheapest}


def _reference_row(classes: list[str]) -> dict:
    """The catalog's reference network (ResNet-50, ImageNet size) from the device model
    alone: where a real large model sits next to the CIFAR-sized pool."""
    from cost_model.device_time import DeviceClock

    clock = DeviceClock()
    ref = clock.catalog.reference_network
    row = {"layers": ref.layers, "mflops": round(ref.gmacs_per_image * 1000, 1), "classes": {}}
    for gpu in classes:
        for batch in BATCHES:
            seconds = clock.model_seconds(gpu, layers=ref.layers, reference_images=batch) / batch
            cell = row["classes"].setdefault(gpu, {})
            cell[f"usd_per_1k_batch{batch}"] = clock.usd(seconds, gpu) * 1000.0
            cell[f"device_ms_batch{batch}"] = seconds * 1000.0
    return row


def markdown(report: dict) -> str:
    classes = report["classes"]
    head = "| model | layers | MMACs | " + " | ".join(
        f"{g} b{b}" for g in classes for b in BATCHES) + " | cheapest b1 / b8 |"
    lines = [head, "|" + " --- |" * (3 + len(classes) * len(BATCHES) + 1)]
    for model, row in report["models"].items():
        cells = [
            f"{row['classes'][g][f'usd_per_1k_batch{b}']:.2e}" for g in classes for b in BATCHES
        ]
        cheap = report["cheapest_class"][model]
        lines.append(
            f"| {model} | {row['layers']} | {row['mflops']} | " + " | ".join(cells)
            + f" | {cheap['batch1']} / {cheap['batch8']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from cost_model.catalog import load_catalog
    from zoo.registry import list_models

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/class_table")
    parser.add_argument("--classes", default=",".join(load_catalog().classes))
    args = parser.parse_args(argv)
    models = [info.name for info in list_models() if info.available]
    report = class_table(models, [c for c in args.classes.split(",") if c])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "class_table.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "class_table.md").write_text(markdown(report))
    print(markdown(report))
    print(f"wrote {out / 'class_table.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

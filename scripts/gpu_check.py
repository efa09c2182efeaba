"""The real-GPU check, for a CUDA machine (about 1 to 3 minutes; hard budget 5 minutes).

    COE_ASSETS=/path/to/assets PYTHONPATH=. python scripts/gpu_check.py --out reports/gpu_check.json

1. `coe doctor` rows: per tier of the cascade, is its class this GPU (real) or not (mismatch).
2. The local GPU's catalog class (name + memory).
3. Per model and variant (fp32 / channels_last / fp16 / fp16+channels_last): forward time at
   batch 1 and 8 from CUDA events (what members bill) beside synchronised host time, and the
   largest probability difference from fp32.
4. A member replica object on this GPU billed at each tier class: its result must be
   measured (not emulated) and flagged `billed_class_mismatch` exactly where doctor says so.
5. `coe plan --profile-device cuda`'s profiler on the models (batch 1 and 8).
Writes one JSON report. Exit 0 when every check passes, 1 when one fails, 2 without CUDA
(`--allow-cpu` runs the same code on the CPU as a dry run; nothing is then measured on a GPU).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

VARIANTS = {"fp32": (False, False), "channels_last": (False, True), "fp16": (True, False),
            "fp16+channels_last": (True, True)}
FP16_TOLERANCE = 2e-2  # max |p_fp16 - p_fp32| accepted for softmax probabilities


def _timings(member, timer, cuda, batch_size: int, repeats: int) -> dict:
    import numpy as np

    images = np.random.default_rng(batch_size).integers(0, 256, (batch_size, 32, 32, 3),
                                                        dtype=np.uint8)
    for _ in range(5):
        member.predict_probs(images)
    events, host = [], []
    for _ in range(repeats):
        if cuda is not None:
            cuda.synchronize()
        start = time.perf_counter()
        _, seconds = timer.time(lambda: member.predict_probs(images))
        host.append(time.perf_counter() - start)
        events.append(seconds)
    return {"batch_size": batch_size, "event_ms_median": statistics.median(events) * 1e3,
            "host_ms_median": statistics.median(host) * 1e3}


def check_variants(models, device, cuda, repeats, deadline) -> list[dict]:
    import numpy as np

    from zoo.device import ForwardTimer, apply_precision
    from zoo.registry import load_member

    timer = ForwardTimer(on_cuda=cuda is not None, cuda=cuda)
    rows = []
    images = np.random.default_rng(7).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    for model in models:
        reference = None
        for variant, (fp16, channels_last) in VARIANTS.items():
            if time.monotonic() > deadline:
                rows.append({"model": model, "variant": variant, "skipped": "time budget"})
                continue
            member, notes = apply_precision(load_member(model, device=device), device,
                                            fp16=fp16, channels_last=channels_last)
            probs = member.predict_probs(images)
            reference = probs if reference is None else reference
            diff = float(np.abs(probs - reference).max())
            rows.append({
                "model": model, "variant": variant, "notes": notes,
                "max_abs_prob_diff_vs_fp32": diff,
                "ok": diff <= FP16_TOLERANCE,
                "timings": [_timings(member, timer, cuda, bs, repeats) for bs in (1, 8)],
            })
    return rows


def check_members(config, model: str) -> list[dict]:
    """A member replica object per tier class, on this device: measured vs emulated, flag."""
    import numpy as np

    from serve_app.member import MemberDeployment

    rows = []
    for tier in config.tiers:
        member = MemberDeployment.func_or_class(model, tier.name, model, tier.gpu_class,
                                                max_batch_size=8, batch_wait_timeout_s=0.0)
        images = [np.zeros((32, 32, 3), dtype=np.uint8)] * 4
        results = asyncio.run(member._run_batch_of(images))  # the handler behind serve.batch
        check = member.device_check
        mismatch = check.status == "mismatch"
        rows.append({
            "tier": tier.name, "gpu_class": tier.gpu_class, "status": check.status,
            "emulated": results[0].emulated,
            "billed_class_mismatch": results[0].billed_class_mismatch,
            "device_ms_per_image": results[0].device_seconds * 1e3,
            "ok": results[0].billed_class_mismatch == mismatch
            and results[0].emulated == (check.status == "emulated"),
        })
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cascade", default="configs/cifar10-coe-handset.yaml")
    parser.add_argument("--models", default="resnet20,resnet56")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--budget-s", type=float, default=240.0)
    parser.add_argument("--out", default="reports/gpu_check.json")
    parser.add_argument("--allow-cpu", action="store_true", help="dry run without CUDA")
    args = parser.parse_args()
    started = time.monotonic()
    deadline = started + args.budget_s

    import torch

    from cascade.config import load_cascade
    from coe.cli_doctor import format_rows, tier_checks
    from cost_model.catalog import load_catalog
    from planner.profile_cuda import profile_pool_on_cuda
    from zoo.device import detect_gpu_class

    on_cuda = torch.cuda.is_available()
    if not on_cuda and not args.allow_cpu:
        print("gpu_check: no CUDA device (torch.cuda.is_available() is False); run it on a "
              "GPU machine, or --allow-cpu for a dry run", file=sys.stderr)
        return 2
    catalog = load_catalog()
    config = load_cascade(args.cascade, check_models=False)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    report: dict = {"torch": torch.__version__, "cuda": torch.version.cuda, "on_cuda": on_cuda}
    report["doctor"] = tier_checks(config, catalog)
    print(format_rows(report["doctor"]))
    if on_cuda:
        report["device_name"] = torch.cuda.get_device_name(0)
        try:
            report["gpu_class"] = detect_gpu_class(catalog)
        except ValueError as exc:
            report["gpu_class"] = None
            report["gpu_class_error"] = str(exc)
    cuda = torch.cuda if on_cuda else None
    device = "cuda" if on_cuda else "cpu"
    report["variants"] = check_variants(models, device, cuda, args.repeats, deadline)
    report["members"] = check_members(config, models[0])
    if on_cuda and report.get("gpu_class") and time.monotonic() < deadline:
        profile = profile_pool_on_cuda(models, catalog, batch_sizes=(1, 8), progress=False)
        report["profile"] = json.loads(profile.model_dump_json())
    report["seconds"] = time.monotonic() - started
    checks = [r.get("ok", True) for r in report["variants"] + report["members"]]
    report["ok"] = all(checks) and report["seconds"] <= 300
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    for row in report["variants"]:
        if "timings" in row:
            t1, t8 = row["timings"]
            print(f"{row['model']:<10} {row['variant']:<20} b1 {t1['event_ms_median']:.3f} ms "
                  f"(host {t1['host_ms_median']:.3f})  b8 {t8['event_ms_median']:.3f} ms  "
                  f"max|dp| {row['max_abs_prob_diff_vs_fp32']:.1e}")
    for row in report["members"]:
        print(f"member on {row['gpu_class']:<10} {row['status']:<9} emulated={row['emulated']} "
              f"mismatch={row['billed_class_mismatch']} ok={row['ok']}")
    print(f"{'PASS' if report['ok'] else 'FAIL'} in {report['seconds']:.0f} s -> {args.out}"
          + ("" if on_cuda else " (CPU dry run: nothing measured on a GPU)"))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

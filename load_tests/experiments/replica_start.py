"""`coe bench replica-start`: the CPU a new member replica spends in its constructor.

A killed replica's replacement, or a replica an autoscaler adds, starts on a host that is
already serving: its start-up CPU is taken from the replicas that answer requests. This
runs the member deployment's constructor (what Serve runs in a new replica: import torch,
load the model and the device model) in a fresh Python process, `ray.serve` already
imported as it is in a replica, and reads that process's CPU time around it. The
`with_torchvision` variant imports torchvision first inside the timed region, which is what
the constructor cost before preprocessing stopped importing it (torchvision's package
import pulls in torch._dynamo). The two variants alternate (A B, B A, ...) in one run, so
drift on this shared host hits both alike; the report gives medians and their ratio.

    .venv/bin/coe bench replica-start [--model resnet20] [--rounds 6] [--out reports/replica-start]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

from pydantic import BaseModel, ConfigDict, Field

from foundation.paths import REPO_ROOT
from load_tests.experiments.bench_plan import alternating_order, ratio, write_json_report

VARIANTS = ("member", "with_torchvision")

_PROBE = """
import json, sys, time
import ray.serve  # a Serve replica has it imported before the constructor runs
from serve_app.member import MemberDeployment
cpu0, wall0 = time.process_time(), time.perf_counter()
if {with_torchvision}:
    import torchvision  # noqa: F401  (the old constructor's import)
MemberDeployment.func_or_class({model!r}, "tier0", {model!r}, "T4")
print(json.dumps({{"cpu_s": time.process_time() - cpu0, "wall_s": time.perf_counter() - wall0,
                  "torch_dynamo_imported": "torch._dynamo" in sys.modules}}))
"""


class ReplicaStartOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = "resnet20"
    rounds: int = Field(default=6, ge=1, le=50)
    out: str = "reports/replica-start"


def measure_once(model: str, with_torchvision: bool, timeout_s: float = 300.0) -> dict:
    """One fresh interpreter running the member constructor; its CPU and wall seconds."""
    code = _PROBE.format(model=model, with_torchvision=with_torchvision)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"replica-start probe failed ({done.returncode}): "
                           f"{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(samples: dict[str, list[dict]]) -> dict:
    """Medians per variant and the ratio member / with_torchvision."""
    rows = {}
    for variant, runs in samples.items():
        rows[variant] = {
            "runs": len(runs),
            "cpu_s_median": round(statistics.median(r["cpu_s"] for r in runs), 3),
            "wall_s_median": round(statistics.median(r["wall_s"] for r in runs), 3),
            "cpu_s_all": [round(r["cpu_s"], 3) for r in runs],
            "torch_dynamo_imported": sorted({r["torch_dynamo_imported"] for r in runs}),
        }
    ours, old = rows.get("member"), rows.get("with_torchvision")
    cpu_ratio = ratio(ours["cpu_s_median"], old["cpu_s_median"]) if ours and old else None
    return {**rows, "cpu_ratio_member_over_with_torchvision":
            round(cpu_ratio, 3) if cpu_ratio is not None else None}


def run_replica_start(options: ReplicaStartOptions, progress: bool = True) -> dict:
    """Alternate the variants for `rounds` rounds; write and return the JSON report."""
    from tqdm import tqdm

    started = time.time()
    samples: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    order = alternating_order(VARIANTS, options.rounds)
    for _, variant in tqdm(order, desc="replica-start", disable=not progress):
        samples[variant].append(
            measure_once(options.model, with_torchvision=variant == "with_torchvision"))
    report = {
        "kind": "replica_start",
        "options": options.model_dump(),
        "note": "CPU seconds of the member deployment's constructor in a fresh process "
        "(ray.serve imported first, as in a replica), medians over alternating rounds on "
        "this shared host; with_torchvision adds the import the constructor used to pay",
        "started_unix": started,
        "seconds": round(time.time() - started, 1),
        **summarise(samples),
    }
    write_json_report(report, options.out, "replica_start.json")
    return report

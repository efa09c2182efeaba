"""`coe plan --json` and `coe bench resplit --json` as a user runs them, on two real models.

Checks the same-footing fields: each tier's chosen class, the single best on its cheapest
class (recomputed here from the reported per-class costs), the $ ratios, and the predicted
batch sizes at the planned rate. Predictions and profiles are cached, so a second run is fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
POOL = "resnet20,resnet32"


def coe_json(*args: str, timeout: float = 900) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "coe", *args], cwd=REPO, capture_output=True, text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"coe {args} failed:\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(1200)
def test_plan_json_places_tiers_and_single_best_on_their_cheapest_classes():
    report = coe_json("plan", "--pool", POOL, "--dataset", "cifar10-jpeg", "--objective",
                      "match-best", "--rate", "20", "--json", "--no-progress")
    classes = report["classes"]
    assert report["emulated_gpu_classes"] and "EMULATED" in report["note"]
    assert len(report["chosen"]["tiers_gpu"]) == len(report["chosen"]["config"]["tiers"])
    for placement in report["chosen"]["placement"]:
        by_class = placement["usd_per_1k_images_by_class"]
        assert placement["gpu_class"] == min(classes, key=by_class.__getitem__)
        assert 1.0 <= placement["predicted_batch"] <= 8
    assert report["single_best"]["gpu_class"] in classes
    assert report["cost_ratio_usd"] > 0 and report["cost_ratio_usd_same_class"] > 0
    members = {m for t in report["chosen"]["config"]["tiers"] for m in
               (x["model"] for x in t["members"])}
    assert set(report["predicted_batch"]) == members
    assert report["rate_per_s"] == 20


@pytest.mark.timeout(1200)
def test_resplit_counts_held_plans_and_ratios():
    report = coe_json("bench", "resplit", "--pool", POOL, "--resplits", "2", "--json",
                      "--no-progress", "--out", str(REPO / "reports" / "test-resplit"))
    assert report["resplits"] == 2 and 0 <= report["held"] <= 2
    assert len(report["ratios"]) == 2 and all(r > 0 for r in report["ratios"])

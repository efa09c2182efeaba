"""`coe bench autoscale --sim --json` as a user runs it: the four policies and the oracle bound.

The oracle follower knows the trace ahead; a policy that loses no request cannot undercut it
at the same headroom. The gears start sized for their first gear, so they lose nothing at
start-up either.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)
def test_sim_reports_four_policies_and_an_oracle_bound_no_policy_undercuts(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "coe", "bench", "autoscale", "--sim", "--trace", "diurnal",
         "--peak-rate", "5000", "--json", "--no-progress", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=550,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    policies = report["policies"]
    assert set(policies) == {"static_peak", "serve_default", "escalation_aware",
                             "escalation_aware_gears"}
    oracle = report["bounds"]["oracle_follower"]
    assert oracle["lost_requests"] == 0 and oracle["slo_violation_rate"] == 0.0
    assert 0 < oracle["vs_static_peak"] < 1
    for name, policy in policies.items():
        assert policy["lost_requests"] == 0, name
        if name != "escalation_aware_gears":  # gears trade accuracy for cost: not bounded
            assert report["ratios"][name]["vs_static_peak"] >= oracle["vs_static_peak"] - 1e-9
    assert Path(report["report"]).exists()

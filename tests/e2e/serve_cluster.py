"""The e2e layer's serving cluster: its spec, name and URL, and `coe` run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVE_CLUSTER_SPEC = REPO / "tests" / "e2e" / "cluster_serve.yaml"
SERVE_CLUSTER = "coe-e2e-serve"
SERVE_BASE = "http://127.0.0.1:18600"


def run_coe(env, *args, timeout=420):
    """`python -m coe ARGS` as a user runs it; fails the test with its output on error."""
    result = subprocess.run(
        [sys.executable, "-m", "coe", *args], cwd=REPO, env=env,
        capture_output=True, text=True, timeout=timeout,
    )
    assert result.returncode == 0, f"coe {args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout

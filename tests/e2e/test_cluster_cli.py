"""`coe cluster up/status/down` as a user runs them: a real 3-node Ray cluster on 127.0.0.1.

Uses tests/e2e/cluster_small.yaml (head + T4 pool + A100 pool, this area's test ports) and
a private COE_CACHE, so the state file and token never touch a developer's cache. The
cluster is always torn down (by recorded PID) even when an assertion fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "tests" / "e2e" / "cluster_small.yaml"


def _coe(env, *args, timeout=300):
    result = subprocess.run(
        [sys.executable, "-m", "coe", "cluster", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"coe cluster {args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.fixture()
def cli_env(tmp_path):
    env = dict(os.environ, COE_CACHE=str(tmp_path))
    for key in ("RAY_ADDRESS", "COE_CLUSTER", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        env.pop(key, None)
    yield env
    if (tmp_path / "cluster" / "coe-e2e-small.json").exists():
        subprocess.run(
            [sys.executable, "-m", "coe", "cluster", "down", "--grace", "10"],
            cwd=REPO,
            env=env,
            capture_output=True,
            timeout=120,
        )


@pytest.mark.timeout(600)
def test_cluster_up_status_down(cli_env, tmp_path):
    state = json.loads(_coe(cli_env, "up", str(SPEC), "--json"))
    assert state["started"] is True and state["ready"] is True
    pids = [node["pid"] for node in state["nodes"]]
    assert len(pids) == 3 and all(_alive(pid) for pid in pids)
    assert Path(state["token_path"]).is_file()

    again = json.loads(_coe(cli_env, "up", str(SPEC), "--json"))
    assert again["started"] is False and [n["pid"] for n in again["nodes"]] == pids

    status = json.loads(_coe(cli_env, "status", "--json"))
    nodes = {node["name"]: node for node in status["nodes"] if node["ours"]}
    assert set(nodes) == {"coe-e2e-small-head", "coe-e2e-small-t4-0", "coe-e2e-small-a100-0"}
    assert all(node["alive"] for node in nodes.values())
    head, t4, a100 = (nodes[f"coe-e2e-small-{n}"] for n in ("head", "t4-0", "a100-0"))
    assert head["resources"].get("coe_head") == 1 and "GPU" not in head["resources"]
    assert t4["resources"]["GPU"] == 2 and t4["resources"]["accelerator_type:T4"] == 1
    assert a100["resources"]["GPU"] == 1
    assert a100["resources"]["accelerator_type:A100-40G"] == 1
    assert t4["gpu_class"] == "T4" and a100["gpu_class"] == "A100-40GB"
    assert "emulated" in status["note"]

    env_lines = _coe(cli_env, "env")
    assert "export RAY_AUTH_MODE=token" in env_lines and "RAY_ADDRESS=127.0.0.1:6441" in env_lines

    report = json.loads(_coe(cli_env, "down", "--json", "--grace", "20"))
    assert report["was_up"] and report["left"] == []
    assert set(pids) <= set(report["terminated"]) | set(report["killed"])
    stopped = report["terminated"] + report["killed"]
    assert not [pid for pid in stopped if _alive(pid)]
    assert not (tmp_path / "cluster" / "coe-e2e-small.json").exists()

    assert "nothing to stop" in _coe(cli_env, "down")

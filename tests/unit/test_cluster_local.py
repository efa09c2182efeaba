"""Lifecycle helpers without a cluster: node launch and logs, state file, auth env, ports."""

from __future__ import annotations

import shlex
import stat
import sys

import pytest

from cluster import auth, local
from cluster.local import ray_env
from cluster.node_plan import plan_nodes
from cluster.spec import parse_cluster_spec
from cluster.state import (
    ClusterState,
    load_state,
    recorded_cluster_names,
    remove_state,
    resolve_cluster_name,
    save_state,
    state_path,
)
from tests.fixtures.cluster_spec import UNIT_CLUSTER

SPEC = parse_cluster_spec(UNIT_CLUSTER)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COE_CACHE", str(tmp_path))
    monkeypatch.delenv("COE_CLUSTER", raising=False)
    return tmp_path


def test_ray_accepts_the_generated_flags():
    """Every flag we pass is an option of this Ray's `ray start` (hidden ones included)."""
    from ray.scripts.scripts import start

    known = {opt for param in start.params for opt in param.opts}
    for node in plan_nodes(SPEC):
        for arg in node.argv[2:]:
            assert arg.split("=", 1)[0] in known, arg


def _state(name="unit", token="/x/token"):
    return ClusterState(
        name=name,
        spec_path=None,
        spec=SPEC,
        address=SPEC.address,
        dashboard_url="http://127.0.0.1:8302",
        serve_http_port=18102,
        temp_dir=SPEC.resolved_temp_dir(),
        token_path=token,
        started_at="2026-01-01T00:00:00+00:00",
        nodes=plan_nodes(SPEC),
    )


def test_state_round_trip(cache):
    state = _state()
    state.nodes[0].pid, state.nodes[0].create_time, state.nodes[0].node_id = 123, 1.5, "ab"
    path = save_state(state)
    assert path == state_path("unit") and path.parent == cache / "cluster"
    loaded = load_state("unit")
    assert loaded == state
    assert recorded_cluster_names() == ["unit"]
    assert resolve_cluster_name(None) == "unit"
    remove_state("unit")
    assert load_state("unit") is None


def test_resolve_cluster_name_errors(cache):
    with pytest.raises(FileNotFoundError, match="coe cluster up"):
        resolve_cluster_name(None)
    save_state(_state("one"))
    save_state(_state("two"))
    with pytest.raises(ValueError, match="one, two"):
        resolve_cluster_name(None)
    assert resolve_cluster_name("two") == "two"


def test_token_file_is_private_and_stable(tmp_path):
    path = auth.ensure_token(tmp_path / "c.token")
    token = path.read_text()
    assert len(token) == 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert auth.ensure_token(path).read_text() == token


def test_ray_env_points_at_the_cluster_token(cache, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_TOKEN", "stale")
    save_state(_state(token=str(cache / "unit.token")))
    env = ray_env()
    assert env["RAY_AUTH_MODE"] == "token"
    assert env["RAY_AUTH_TOKEN_PATH"] == str(cache / "unit.token")
    assert env["RAY_ADDRESS"] == "127.0.0.1:6402"
    assert "RAY_AUTH_TOKEN" not in env
    with pytest.raises(FileNotFoundError):
        ray_env("missing")


def test_ray_env_without_a_cluster_still_turns_token_auth_on(cache, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    env = ray_env()
    assert env["RAY_AUTH_MODE"] == "token"
    assert "RAY_ADDRESS" not in env and "RAY_AUTH_TOKEN_PATH" not in env


def test_busy_ports_names_the_node_and_port():
    import socket

    from cluster.local import busy_ports

    nodes = plan_nodes(SPEC)
    with socket.socket() as listener:
        listener.bind(("", nodes[1].ports.object_manager))
        listener.listen()
        busy = busy_ports(SPEC, nodes)
    assert busy == [f"unit-t4-0 object_manager ({nodes[1].ports.object_manager})"]


def test_start_node_appends_a_header_and_the_output_to_its_log(tmp_path):
    node = plan_nodes(SPEC, log_dir=tmp_path / "logs")[1]
    node.argv = [sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr)"]
    for attempt in (1, 2):
        process = local._start_node(node, {"PATH": "/usr/bin:/bin"}, attempt)
        assert process.wait(timeout=30) == 0
        assert node.pid == process.pid and node.create_time is not None
    lines = (tmp_path / "logs" / "unit-t4-0.log").read_text().splitlines()
    assert len(lines) == 6
    headers, outputs = lines[0::3], [sorted(lines[1:3]), sorted(lines[4:6])]
    for attempt, header in enumerate(headers, start=1):
        assert header.startswith(local.ATTEMPT_MARKER)
        assert header.endswith(f" attempt {attempt}: {shlex.join(node.argv)}")
    assert outputs == [["err", "out"], ["err", "out"]]


def test_node_failure_names_the_log_and_shows_its_last_lines(tmp_path):
    node = plan_nodes(SPEC, log_dir=tmp_path)[2]
    (tmp_path / "unit-t4-1.log").write_text("\n".join(f"line {i}" for i in range(40)) + "\n")
    message = str(local._node_failure(node, "exited with code 1 while joining", "/tmp/r"))
    assert message.startswith("unit-t4-1 exited with code 1 while joining\n")
    assert f"log: {tmp_path / 'unit-t4-1.log'}" in message
    assert "Ray's own logs: /tmp/r/session_latest/logs" in message
    assert "    line 39" in message and "    line 25" in message and "line 24" not in message


def test_node_failure_shows_only_the_latest_attempt(tmp_path):
    node = plan_nodes(SPEC, log_dir=tmp_path)[1]
    marker = local.ATTEMPT_MARKER
    (tmp_path / "unit-t4-0.log").write_text(
        f"{marker}t attempt 1: ray start\nold failure\n{marker}t attempt 2: ray start\nnew one\n"
    )
    message = str(local._node_failure(node, "exited", "/tmp/r"))
    assert message.endswith("last lines of its latest attempt:\n    new one")
    (tmp_path / "unit-t4-0.log").write_text(f"{marker}t attempt 3: ray start\n")
    assert str(local._node_failure(node, "exited", "/tmp/r")).endswith("    (no output)")


def test_node_failure_without_a_log(tmp_path):
    node = plan_nodes(SPEC, log_dir=tmp_path)[0]
    assert "(no log)" in str(local._node_failure(node, "did not start", "/tmp/r"))


def test_down_of_an_unknown_cluster_reports_not_up(cache):
    assert local.down("nothing") == {
        "cluster": "nothing",
        "was_up": False,
        "terminated": [],
        "killed": [],
        "left": [],
    }

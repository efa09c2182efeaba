"""`ray start` command lines, port blocks, state file round trip and auth env (no Ray)."""

from __future__ import annotations

import json
import stat

import pytest

from cluster import auth
from cluster.local import node_ports, plan_nodes, ray_env
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

SPEC = parse_cluster_spec(
    {
        "name": "unit",
        "head": {
            "num_cpus": 2,
            "object_store_mb": 128,
            "ports": {
                "gcs": 6402,
                "dashboard": 8302,
                "serve_http": 18102,
                "node_port_base": 20100,
                "worker_ports_per_node": 16,
            },
        },
        "pools": [
            {
                "name": "t4",
                "gpu_class": "T4",
                "gpus_per_node": 2,
                "node_count": 2,
                "num_cpus": 4,
                "memory_gb": 2,
            },
            {"name": "a100", "gpu_class": "A100-40GB", "gpus_per_node": 1},
        ],
    }
)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COE_CACHE", str(tmp_path))
    monkeypatch.delenv("COE_CLUSTER", raising=False)
    return tmp_path


def _flag(argv, name):
    values = [arg.split("=", 1)[1] for arg in argv if arg.startswith(f"--{name}=")]
    assert len(values) == 1, (name, argv)
    return values[0]


def test_head_argv():
    head = plan_nodes(SPEC, ray="/venv/bin/ray")[0]
    argv = head.argv
    assert argv[:3] == ["/venv/bin/ray", "start", "--head"]
    assert "--block" in argv
    assert _flag(argv, "port") == "6402"
    assert _flag(argv, "dashboard-port") == "8302"
    assert _flag(argv, "dashboard-host") == "127.0.0.1"
    assert _flag(argv, "node-ip-address") == "127.0.0.1"
    assert _flag(argv, "num-gpus") == "0"
    assert json.loads(_flag(argv, "resources")) == {"coe_head": 1}
    assert _flag(argv, "temp-dir") == "/tmp/coe-ray/unit"
    assert _flag(argv, "object-store-memory") == str(128 * 1024 * 1024)
    assert _flag(argv, "ray-client-server-port") == str(head.ports.ray_client_server)
    assert head.role == "head" and head.gpu_class is None


def test_worker_argv_advertise_gpu_class():
    nodes = plan_nodes(SPEC, ray="ray")
    assert [node.name for node in nodes] == ["unit-head", "unit-t4-0", "unit-t4-1", "unit-a100-0"]
    t4 = nodes[1]
    assert _flag(t4.argv, "address") == "127.0.0.1:6402"
    assert "--head" not in t4.argv
    assert _flag(t4.argv, "num-gpus") == "2"
    assert _flag(t4.argv, "num-cpus") == "4"
    assert json.loads(_flag(t4.argv, "resources")) == {"accelerator_type:T4": 1}
    assert _flag(t4.argv, "memory") == str(2 * 1024**3)
    assert "coe-serve/gpu-class=T4" in _flag(t4.argv, "labels")
    a100 = nodes[3]
    assert json.loads(_flag(a100.argv, "resources")) == {"accelerator_type:A100-40G": 1}
    assert a100.accelerator_type == "A100-40G" and a100.gpu_class == "A100-40GB"


def test_every_node_gets_a_disjoint_port_block():
    nodes = plan_nodes(SPEC)
    seen = set()
    for node in nodes:
        ports = node.ports.model_dump()
        block = {v for k, v in ports.items() if k not in ("min_worker", "max_worker")}
        block |= set(range(ports["min_worker"], ports["max_worker"] + 1))
        assert not block & seen
        seen |= block
        assert _flag(node.argv, "node-manager-port") == str(node.ports.node_manager)
        assert _flag(node.argv, "min-worker-port") == str(node.ports.min_worker)
        assert _flag(node.argv, "max-worker-port") == str(node.ports.max_worker)
    assert min(seen) == 20100
    assert max(seen) == 20100 + len(nodes) * SPEC.head.ports.block_size - 1
    assert node_ports(SPEC, 1).node_manager == 20100 + SPEC.head.ports.block_size


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

"""What `up` will run, checked without running it: ports, `ray start` argv, resources, env."""

from __future__ import annotations

import ast
import json
import logging
import sys
from pathlib import Path

import pytest

from cluster import node_plan, quiet
from cluster.node_plan import (
    default_log_dir,
    head_argv,
    node_env,
    node_labels,
    node_ports,
    plan_nodes,
    pool_node_argv,
    required_ports,
)
from cluster.spec import ClusterSpec, ClusterSpecError, parse_cluster_spec
from cost_model.catalog import load_catalog
from tests.fixtures.cluster_spec import UNIT_CLUSTER

BLOCK = 8 + 16  # fixed ports + worker_ports_per_node below
SPEC = parse_cluster_spec(UNIT_CLUSTER)


def _flag(argv, name):
    values = [arg.split("=", 1)[1] for arg in argv if arg.startswith(f"--{name}=")]
    assert len(values) == 1, (name, argv)
    return values[0]


def test_node_ports_are_consecutive_blocks():
    head, second = node_ports(SPEC, 0), node_ports(SPEC, 1)
    assert head.model_dump() == {
        "node_manager": 20100,
        "object_manager": 20101,
        "dashboard_agent_listen": 20102,
        "dashboard_agent_grpc": 20103,
        "runtime_env_agent": 20104,
        "metrics_export": 20105,
        "ray_client_server": 20106,
        "min_worker": 20108,
        "max_worker": 20108 + 16 - 1,
    }
    assert SPEC.head.ports.block_size == BLOCK
    assert second.node_manager == 20100 + BLOCK
    assert second.max_worker - second.min_worker + 1 == 16
    assert head.max_worker < second.node_manager


def test_labels_name_cluster_pool_and_class():
    assert node_labels(SPEC, "head", None) == "coe-serve/cluster=unit,coe-serve/pool=head"
    assert node_labels(SPEC, "t4", "T4") == (
        "coe-serve/cluster=unit,coe-serve/pool=t4,coe-serve/gpu-class=T4"
    )


def test_head_argv():
    argv = head_argv(SPEC, "unit-head", ray="/venv/bin/ray")
    assert argv[:3] == ["/venv/bin/ray", "start", "--head"]
    assert "--block" in argv and "--disable-usage-stats" in argv
    assert not [arg for arg in argv if arg.startswith("--address=")]
    assert _flag(argv, "port") == "6402"
    assert _flag(argv, "dashboard-port") == "8302"
    assert _flag(argv, "dashboard-host") == "127.0.0.1"
    assert _flag(argv, "node-ip-address") == "127.0.0.1"
    assert _flag(argv, "node-name") == "unit-head"
    assert _flag(argv, "num-gpus") == "0"
    assert _flag(argv, "num-cpus") == "2"
    assert json.loads(_flag(argv, "resources")) == {"coe_head": 1}
    assert _flag(argv, "temp-dir") == "/tmp/coe-ray/unit"
    assert _flag(argv, "object-store-memory") == str(128 * 1024 * 1024)
    assert _flag(argv, "ray-client-server-port") == "20106"
    assert _flag(argv, "labels") == "coe-serve/cluster=unit,coe-serve/pool=head"
    assert not [arg for arg in argv if arg.startswith("--memory=")]  # head has no memory_gb


def test_pool_node_argv_advertises_its_gpu_class():
    catalog = load_catalog()
    pool = SPEC.pools[0]
    argv = pool_node_argv(SPEC, pool, catalog.get("T4"), 2, "unit-t4-1", ray="ray")
    assert argv[:2] == ["ray", "start"] and "--head" not in argv
    assert _flag(argv, "address") == "127.0.0.1:6402"
    assert _flag(argv, "node-name") == "unit-t4-1"
    assert _flag(argv, "num-gpus") == "2"
    assert _flag(argv, "num-cpus") == "4"
    assert json.loads(_flag(argv, "resources")) == {"accelerator_type:T4": 1}
    assert _flag(argv, "memory") == str(2 * 1024**3)
    assert _flag(argv, "node-manager-port") == str(20100 + 2 * BLOCK)
    assert "coe-serve/gpu-class=T4" in _flag(argv, "labels")
    for only_on_head in ("temp-dir", "port", "dashboard-port", "ray-client-server-port"):
        assert not [arg for arg in argv if arg.startswith(f"--{only_on_head}=")]


def test_plan_nodes_head_first_then_pools_in_order(tmp_path):
    nodes = plan_nodes(SPEC, ray="ray", log_dir=tmp_path)
    assert [node.name for node in nodes] == ["unit-head", "unit-t4-0", "unit-t4-1", "unit-a100-0"]
    assert [node.role for node in nodes] == ["head", "worker", "worker", "worker"]
    assert [node.log_path for node in nodes] == [str(tmp_path / f"{n.name}.log") for n in nodes]
    assert all(node.pid is None and node.node_id is None for node in nodes)
    head, t4, a100 = nodes[0], nodes[1], nodes[3]
    assert head.gpu_class is None and head.num_gpus == 0
    assert (t4.pool, t4.gpu_class, t4.accelerator_type, t4.num_gpus) == ("t4", "T4", "T4", 2)
    assert a100.accelerator_type == "A100-40G" and a100.gpu_class == "A100-40GB"
    assert json.loads(_flag(a100.argv, "resources")) == {"accelerator_type:A100-40G": 1}
    for index, node in enumerate(nodes):
        assert node.ports == node_ports(SPEC, index)
        assert _flag(node.argv, "node-manager-port") == str(node.ports.node_manager)
        assert _flag(node.argv, "min-worker-port") == str(node.ports.min_worker)
        assert _flag(node.argv, "max-worker-port") == str(node.ports.max_worker)


def test_plan_nodes_default_log_dir_is_in_the_temp_dir():
    assert default_log_dir(SPEC) == Path("/tmp/coe-ray/unit/coe-logs")
    assert plan_nodes(SPEC)[0].log_path == "/tmp/coe-ray/unit/coe-logs/unit-head.log"


def test_plan_nodes_rejects_a_gpu_class_the_catalog_lacks():
    spec = ClusterSpec.model_validate(
        {"name": "bad", "pools": [{"name": "x", "gpu_class": "Z80", "gpus_per_node": 1}]}
    )
    with pytest.raises(ClusterSpecError, match=r"pools\[0\].gpu_class.*Z80"):
        plan_nodes(spec)


def test_every_node_gets_a_disjoint_port_block():
    nodes = plan_nodes(SPEC)
    seen: set[int] = set()
    for node in nodes:
        ports = node.ports.model_dump()
        block = {v for k, v in ports.items() if k not in ("min_worker", "max_worker")}
        block |= set(range(ports["min_worker"], ports["max_worker"] + 1))
        assert not block & seen
        seen |= block
    assert min(seen) == 20100
    assert max(seen) == 20100 + len(nodes) * BLOCK - 1


def test_required_ports_lists_every_bound_port_once():
    nodes = plan_nodes(SPEC)
    wanted = required_ports(SPEC, nodes)
    labels = [label for label, _ in wanted]
    ports = [port for _, port in wanted]
    assert wanted[:2] == [("head gcs", 6402), ("head dashboard", 8302)]
    assert len(ports) == len(set(ports))
    # head: 7 fixed ports (client server included); workers: 6; each 16 worker ports.
    assert len(wanted) == 2 + 7 + 3 * 6 + 4 * 16
    assert "unit-head ray_client_server" in labels
    assert "unit-t4-0 ray_client_server" not in labels
    assert ("unit-t4-0 object_manager", nodes[1].ports.object_manager) in wanted


def test_node_env_uses_our_token_and_no_foreign_cluster():
    base = {
        "PATH": "/bin",
        "RAY_ADDRESS": "10.0.0.9:6379",
        "RAY_DASHBOARD_ADDRESS": "http://x",
        "RAY_API_SERVER_ADDRESS": "http://x",
        "RAY_AUTH_TOKEN": "stale",
    }
    env = node_env(base, "/state/unit.token")
    assert env == {
        "PATH": "/bin",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": "/state/unit.token",
        node_plan.DRAIN_TIMEOUT_ENV: "0",
        "RAY_SERVE_ROUTER_RETRY_MAX_BACKOFF_S": "0.05",
        "RAY_SERVE_METRICS_EXPORT_INTERVAL_MS": "1000",
    }
    assert base["RAY_ADDRESS"] == "10.0.0.9:6379"  # the caller's mapping is not changed


def test_node_env_keeps_a_drain_timeout_the_caller_chose():
    env = node_env({node_plan.DRAIN_TIMEOUT_ENV: "12"}, "/t")
    assert env[node_plan.DRAIN_TIMEOUT_ENV] == "12"


def test_node_env_keeps_a_router_backoff_the_caller_chose():
    env = node_env({"RAY_SERVE_ROUTER_RETRY_MAX_BACKOFF_S": "0.5"}, "/t")
    assert env["RAY_SERVE_ROUTER_RETRY_MAX_BACKOFF_S"] == "0.5"


def test_node_plan_is_pure():
    """No process launching and no Ray in the planning module (tests rely on that)."""
    tree = ast.parse(Path(node_plan.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"ray", "subprocess", "socket", "psutil", "os"}


def test_quiet_init_kwargs():
    assert quiet.quiet_init_kwargs() == {"log_to_driver": False, "logging_level": logging.WARNING}
    assert quiet.quiet_init_kwargs(logging_level="ERROR")["logging_level"] == "ERROR"


def test_stdout_to_appends_prints_to_the_file(tmp_path):
    path = tmp_path / "logs" / "driver.log"
    before = sys.stdout
    with quiet.stdout_to(path):
        print("first")
    with quiet.stdout_to(path):
        print("second")
    assert sys.stdout is before
    assert path.read_text() == "first\nsecond\n"

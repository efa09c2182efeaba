"""Joining ray.nodes() and Serve replica actors with the recorded state (pure)."""

from __future__ import annotations

from cluster.node_plan import plan_nodes
from cluster.spec import parse_cluster_spec
from cluster.state import ClusterState
from cluster.status import build_status, format_status, parse_replica_class

SPEC = parse_cluster_spec(
    {
        "name": "unit",
        "head": {
            "ports": {
                "gcs": 6403,
                "dashboard": 8303,
                "serve_http": 18103,
                "node_port_base": 20300,
                "worker_ports_per_node": 16,
            }
        },
        "pools": [
            {"name": "t4", "gpu_class": "T4", "gpus_per_node": 2},
            {"name": "a100", "gpu_class": "A100-40GB", "gpus_per_node": 1},
        ],
    }
)


def _state():
    nodes = plan_nodes(SPEC)
    for index, node in enumerate(nodes):
        node.node_id = f"id{index}" + "0" * 20
    return ClusterState(
        name="unit",
        spec_path=None,
        spec=SPEC,
        address=SPEC.address,
        dashboard_url="http://127.0.0.1:8303",
        serve_http_port=18103,
        temp_dir="/tmp/x",
        token_path="/tmp/t",
        started_at="now",
        nodes=nodes,
    )


def _ray_node(node, alive=True):
    return {
        "NodeID": node.node_id,
        "NodeName": node.name,
        "Alive": alive,
        "NodeManagerAddress": "10.0.0.1",
        "NodeManagerPort": node.ports.node_manager,
        "Resources": {"CPU": 4.0, "node:10.0.0.1": 1.0, "GPU": float(node.num_gpus)},
        "Labels": {"coe-serve/pool": node.pool or "head"},
    }


def test_parse_replica_class():
    assert parse_replica_class("ServeReplica:coe:t0-resnet20") == ("coe", "t0-resnet20")
    assert parse_replica_class("ServeController") is None
    assert parse_replica_class("ServeReplica:broken") is None


def test_replicas_joined_to_their_node_and_gpu_class():
    state = _state()
    head, t4, a100 = state.nodes
    actors = [
        {
            "class_name": "ServeReplica:coe:t0-resnet20",
            "name": "SERVE_REPLICA::coe#t0#a",
            "pid": 11,
            "node_id": t4.node_id,
        },
        {
            "class_name": "ServeReplica:coe:t1-resnet56",
            "name": "SERVE_REPLICA::coe#t1#b",
            "pid": 12,
            "node_id": a100.node_id,
        },
        {
            "class_name": "ServeReplica:coe:CascadeIngress",
            "name": "x",
            "pid": 13,
            "node_id": head.node_id,
        },
        {"class_name": "ServeController", "name": "c", "pid": 14, "node_id": head.node_id},
    ]
    foreign = {
        "NodeID": "f" * 24,
        "NodeName": "someone-else",
        "Alive": False,
        "NodeManagerAddress": "10.0.0.2",
        "NodeManagerPort": 1,
        "Resources": {},
    }
    status = build_status(state, [_ray_node(n) for n in state.nodes] + [foreign], actors)
    by_deployment = {replica.deployment: replica for replica in status.replicas}
    assert set(by_deployment) == {"t0-resnet20", "t1-resnet56", "CascadeIngress"}
    assert by_deployment["t0-resnet20"].gpu_class == "T4"
    assert by_deployment["t1-resnet56"].node_name == "unit-a100-0"
    assert by_deployment["t1-resnet56"].gpu_class == "A100-40GB"
    assert by_deployment["CascadeIngress"].gpu_class is None
    nodes = {node.name: node for node in status.nodes}
    assert nodes["unit-head"].role == "head" and nodes["unit-head"].ours
    assert nodes["unit-t4-0"].accelerator_type == "T4"
    assert "node:10.0.0.1" not in nodes["unit-t4-0"].resources
    assert not nodes["someone-else"].ours and status.nodes[-1].name == "someone-else"
    text = format_status(status)
    assert "emulated" in text and "unit-a100-0" in text and "t1-resnet56" in text

"""The nodes of a local cluster as data: ports, `ray start` argv, resources and environment.

Pure on purpose (no subprocess, no Ray): everything `up` will run is decided here, so unit
tests check every command line and port without starting anything, and cluster/local.py
only launches, waits and stops.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from cluster import auth
from cluster.placement import HEAD_RESOURCE
from cluster.serve_env import with_serve_env
from cluster.spec import ClusterSpec, NodePool
from cluster.state import NodePorts, NodeState
from cost_model.catalog import GPUCatalog, GPUClass, load_catalog

LABEL_PREFIX = "coe-serve"
# The head advertises this much of HEAD_RESOURCE; ingress replicas take 0.001 each.
HEAD_RESOURCE_TOTAL = 1
# Ray's own convention on real GPU nodes: accelerator_type:<X> = 1 per node.
ACCELERATOR_RESOURCE_TOTAL = 1
MB = 1024 * 1024
LOOPBACK = "127.0.0.1"
DRAIN_TIMEOUT_ENV = "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"
# Variables naming some other cluster; a node inheriting them could join the wrong one.
FOREIGN_CLUSTER_ENV = ("RAY_ADDRESS", "RAY_DASHBOARD_ADDRESS", "RAY_API_SERVER_ADDRESS")
# Worker port range fields of NodePorts (a range, not single ports).
WORKER_RANGE_FIELDS = ("min_worker", "max_worker")


def node_ports(spec: ClusterSpec, index: int) -> NodePorts:
    """Ports of node `index` (0 = head): its own block so nodes on one machine never clash."""
    ports = spec.head.ports
    base = ports.node_port_base + index * ports.block_size
    first_worker = base + 8
    return NodePorts(
        node_manager=base,
        object_manager=base + 1,
        dashboard_agent_listen=base + 2,
        dashboard_agent_grpc=base + 3,
        runtime_env_agent=base + 4,
        metrics_export=base + 5,
        ray_client_server=base + 6,
        min_worker=first_worker,
        max_worker=first_worker + ports.worker_ports_per_node - 1,
    )


def node_labels(spec: ClusterSpec, pool: str, gpu_class: str | None) -> str:
    """The `--labels` value: cluster, pool and (on GPU nodes) GPU class, for status/placement."""
    labels = {f"{LABEL_PREFIX}/cluster": spec.name, f"{LABEL_PREFIX}/pool": pool}
    if gpu_class:
        labels[f"{LABEL_PREFIX}/gpu-class"] = gpu_class
    return ",".join(f"{key}={value}" for key, value in labels.items())


def head_resources() -> dict[str, int]:
    """Custom resources of the head: the marker ingress replicas are pinned to."""
    return {HEAD_RESOURCE: HEAD_RESOURCE_TOTAL}


def pool_resources(gpu: GPUClass) -> dict[str, int]:
    """Custom resources of a pool node: `accelerator_type:<X>`, what tier placement asks for."""
    return {gpu.resource_name: ACCELERATOR_RESOURCE_TOTAL}


def resources_flag(resources: Mapping[str, int]) -> str:
    return f"--resources={json.dumps(dict(resources))}"


def common_flags(
    ports: NodePorts, num_cpus: int, memory_gb: float | None, store_mb: int
) -> list[str]:
    """Flags every node gets: blocking, loopback, sizes and its own port block."""
    flags = [
        "--block",
        "--disable-usage-stats",
        f"--node-ip-address={LOOPBACK}",
        f"--num-cpus={num_cpus}",
        f"--object-store-memory={store_mb * MB}",
        f"--node-manager-port={ports.node_manager}",
        f"--object-manager-port={ports.object_manager}",
        f"--dashboard-agent-listen-port={ports.dashboard_agent_listen}",
        f"--dashboard-agent-grpc-port={ports.dashboard_agent_grpc}",
        f"--runtime-env-agent-port={ports.runtime_env_agent}",
        f"--metrics-export-port={ports.metrics_export}",
        f"--min-worker-port={ports.min_worker}",
        f"--max-worker-port={ports.max_worker}",
    ]
    if memory_gb is not None:
        flags.append(f"--memory={int(memory_gb * 1024 * MB)}")
    return flags


def head_argv(spec: ClusterSpec, name: str, ray: str = "ray") -> list[str]:
    """`ray start --head`: GCS, dashboard, no GPUs, the head marker resource."""
    head = spec.head
    ports = node_ports(spec, 0)
    return [
        ray,
        "start",
        "--head",
        f"--port={head.ports.gcs}",
        "--include-dashboard=true",
        f"--dashboard-host={LOOPBACK}",
        f"--dashboard-port={head.ports.dashboard}",
        f"--ray-client-server-port={ports.ray_client_server}",
        f"--temp-dir={spec.resolved_temp_dir()}",
        f"--node-name={name}",
        f"--labels={node_labels(spec, 'head', None)}",
        "--num-gpus=0",
        resources_flag(head_resources()),
        *common_flags(ports, head.num_cpus, head.memory_gb, head.object_store_mb),
    ]


def pool_node_argv(
    spec: ClusterSpec, pool: NodePool, gpu: GPUClass, index: int, name: str, ray: str = "ray"
) -> list[str]:
    """`ray start --address=<head>` for node `index` of the cluster, a member of `pool`."""
    return [
        ray,
        "start",
        f"--address={spec.address}",
        f"--node-name={name}",
        f"--labels={node_labels(spec, pool.name, pool.gpu_class)}",
        f"--num-gpus={pool.gpus_per_node}",
        resources_flag(pool_resources(gpu)),
        *common_flags(node_ports(spec, index), pool.num_cpus, pool.memory_gb, pool.object_store_mb),
    ]


def default_log_dir(spec: ClusterSpec) -> Path:
    return Path(spec.resolved_temp_dir()) / "coe-logs"


def plan_nodes(
    spec: ClusterSpec,
    catalog: GPUCatalog | None = None,
    ray: str = "ray",
    log_dir: Path | None = None,
) -> list[NodeState]:
    """The nodes of `spec`, head first, each with its `ray start` argv and log file."""
    catalog = catalog or load_catalog()
    spec.check_gpu_classes(catalog)
    log_dir = log_dir or default_log_dir(spec)
    head_name = f"{spec.name}-head"
    nodes = [
        NodeState(
            name=head_name,
            role="head",
            num_cpus=spec.head.num_cpus,
            ports=node_ports(spec, 0),
            argv=head_argv(spec, head_name, ray),
            log_path=str(log_dir / f"{head_name}.log"),
        )
    ]
    for pool in spec.pools:
        gpu = catalog.get(pool.gpu_class)
        for replica in range(pool.node_count):
            index = len(nodes)
            name = f"{spec.name}-{pool.name}-{replica}"
            nodes.append(
                NodeState(
                    name=name,
                    role="worker",
                    pool=pool.name,
                    gpu_class=pool.gpu_class,
                    accelerator_type=gpu.accelerator_type,
                    num_gpus=pool.gpus_per_node,
                    num_cpus=pool.num_cpus,
                    ports=node_ports(spec, index),
                    argv=pool_node_argv(spec, pool, gpu, index, name, ray),
                    log_path=str(log_dir / f"{name}.log"),
                )
            )
    return nodes


def required_ports(spec: ClusterSpec, nodes: list[NodeState]) -> list[tuple[str, int]]:
    """Every port the cluster binds, labelled "<node> <role>" (what `up` checks is free)."""
    wanted: list[tuple[str, int]] = [
        ("head gcs", spec.head.ports.gcs),
        ("head dashboard", spec.head.ports.dashboard),
    ]
    for node in nodes:
        ports = node.ports
        for field, port in ports.model_dump().items():
            if field in WORKER_RANGE_FIELDS:
                continue
            if field == "ray_client_server" and node.role != "head":
                continue  # only the head runs a Ray client server
            wanted.append((f"{node.name} {field}", port))
        wanted += [
            (f"{node.name} worker port", port)
            for port in range(ports.min_worker, ports.max_worker + 1)
        ]
    return wanted


def node_env(base: Mapping[str, str], token_path: Path | str) -> dict[str, str]:
    """The environment of every `ray start`: `base`, our token auth, no foreign cluster.

    `down` stops the whole cluster, so a SIGTERMed node has nowhere to drain replicas to;
    Ray's default 30 s drain would only delay teardown (a caller's own value wins).
    Serve's router settings (cluster/serve_env.py) go in too, the caller's values first.
    """
    env = auth.with_auth(dict(base), token_path)
    with_serve_env(env)
    for variable in FOREIGN_CLUSTER_ENV:
        env.pop(variable, None)
    env.setdefault(DRAIN_TIMEOUT_ENV, "0")
    return env

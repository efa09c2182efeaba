"""What runs where: the nodes of a local cluster and the Serve replicas placed on each.

Joins Ray's live view (ray.nodes(), the state API's actors) with the recorded state so
every node and replica is shown with its GPU class; the check that a tier really landed
on its class is then a glance (or a JSON query) instead of a dashboard hunt.
"""

from __future__ import annotations

import dataclasses

from pydantic import BaseModel, ConfigDict

from cluster.state import ClusterState

REPLICA_CLASS_PREFIX = "ServeReplica:"
EMULATION_NOTE = (
    "GPUs are logical Ray resources on this machine (no CUDA device): GPU classes are "
    "emulated and models run on the CPU"
)


class NodeStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None
    node_id: str
    alive: bool
    address: str
    role: str | None
    pool: str | None
    gpu_class: str | None
    accelerator_type: str | None
    resources: dict[str, float]
    labels: dict[str, str]
    ours: bool


class ReplicaStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app: str
    deployment: str
    actor_name: str | None
    pid: int | None
    node_id: str | None
    node_name: str | None
    gpu_class: str | None
    required_resources: dict[str, float] | None = None


class ClusterStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cluster: str
    address: str
    dashboard_url: str
    serve_http_port: int
    note: str
    nodes: list[NodeStatus]
    replicas: list[ReplicaStatus]


def parse_replica_class(class_name: str) -> tuple[str, str] | None:
    """("app", "deployment") from Serve's replica actor class `ServeReplica:<app>:<dep>`."""
    if not class_name.startswith(REPLICA_CLASS_PREFIX):
        return None
    app, _, deployment = class_name[len(REPLICA_CLASS_PREFIX) :].partition(":")
    return (app, deployment) if deployment else None


def build_status(state: ClusterState, ray_nodes: list[dict], actors: list[dict]) -> ClusterStatus:
    """Pure join of ray.nodes() and actor records (dicts) with the recorded cluster state."""
    by_id = {node.node_id: node for node in state.nodes if node.node_id}
    by_name = {node.name: node for node in state.nodes}
    nodes = []
    node_names: dict[str, str | None] = {}
    node_classes: dict[str, str | None] = {}
    for info in ray_nodes:
        node_id = info["NodeID"]
        recorded = by_id.get(node_id) or by_name.get(info.get("NodeName", ""))
        node_names[node_id] = info.get("NodeName")
        node_classes[node_id] = recorded.gpu_class if recorded else None
        nodes.append(
            NodeStatus(
                name=info.get("NodeName"),
                node_id=node_id,
                alive=bool(info.get("Alive")),
                address=f"{info.get('NodeManagerAddress')}:{info.get('NodeManagerPort')}",
                role=recorded.role if recorded else None,
                pool=recorded.pool if recorded else None,
                gpu_class=recorded.gpu_class if recorded else None,
                accelerator_type=recorded.accelerator_type if recorded else None,
                resources={
                    key: float(value)
                    for key, value in (info.get("Resources") or {}).items()
                    if not key.startswith("node:")
                },
                labels=dict(info.get("Labels") or {}),
                ours=recorded is not None,
            )
        )
    nodes.sort(key=lambda node: (not node.alive, node.role != "head", node.name or ""))
    replicas = []
    for actor in actors:
        parsed = parse_replica_class(actor.get("class_name") or "")
        if parsed is None:
            continue
        node_id = actor.get("node_id")
        replicas.append(
            ReplicaStatus(
                app=parsed[0],
                deployment=parsed[1],
                actor_name=actor.get("name"),
                pid=actor.get("pid"),
                node_id=node_id,
                node_name=node_names.get(node_id),
                gpu_class=node_classes.get(node_id),
                required_resources=actor.get("required_resources"),
            )
        )
    replicas.sort(key=lambda replica: (replica.app, replica.deployment, replica.actor_name or ""))
    return ClusterStatus(
        cluster=state.name,
        address=state.address,
        dashboard_url=state.dashboard_url,
        serve_http_port=state.serve_http_port,
        note=EMULATION_NOTE,
        nodes=nodes,
        replicas=replicas,
    )


def collect_status(state: ClusterState) -> ClusterStatus:
    """Ask the running cluster (as a driver; connect() must have been called)."""
    import ray
    from ray.util.state import list_actors

    # Explicit address: with several Ray instances on one machine "auto" is ambiguous.
    actors = list_actors(
        address=state.address, filters=[("state", "=", "ALIVE")], detail=True, limit=10_000
    )
    records = [actor if isinstance(actor, dict) else dataclasses.asdict(actor) for actor in actors]
    return build_status(state, ray.nodes(), records)


def _short(node_id: str | None) -> str:
    return (node_id or "-")[:8]


def format_status(status: ClusterStatus) -> str:
    """A human table: nodes with their GPU class and resources, then replicas per node."""
    lines = [
        f"cluster {status.cluster}  address {status.address}  dashboard {status.dashboard_url}"
        f"  serve http port {status.serve_http_port}",
        f"note: {status.note}",
        "",
        f"{'NODE':<22} {'ID':<8} {'ALIVE':<5} {'ROLE':<6} {'GPU CLASS':<10} {'ADDRESS':<20} "
        "RESOURCES",
    ]
    for node in status.nodes:
        shown = ", ".join(
            f"{key}={value:g}"
            for key, value in sorted(node.resources.items())
            if key not in ("memory", "object_store_memory")
        )
        alive = "yes" if node.alive else "NO"
        lines.append(
            f"{node.name or '?':<22} {_short(node.node_id):<8} {alive:<5} "
            f"{node.role or 'other':<6} {node.gpu_class or '-':<10} {node.address:<20} {shown}"
        )
    lines.append("")
    if not status.replicas:
        lines.append("no Serve replicas are running")
    else:
        lines.append(f"{'APP':<12} {'DEPLOYMENT':<28} {'NODE':<22} {'GPU CLASS':<10} PID")
        for replica in status.replicas:
            lines.append(
                f"{replica.app:<12} {replica.deployment:<28} {replica.node_name or '?':<22} "
                f"{replica.gpu_class or '-':<10} {replica.pid or '-'}"
            )
    return "\n".join(lines)

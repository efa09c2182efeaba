"""The state file of a running local cluster: what `up` started, so `down` stops only that.

One JSON file per cluster under `cache_root()/cluster/<name>.json`, rewritten atomically
after every process start, so even an interrupted `up` leaves a record `down` can use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cluster.spec import ClusterSpec
from foundation.paths import cache_root


class NodePorts(BaseModel):
    """The ports one Ray node binds (all from its own block of the spec's port range)."""

    model_config = ConfigDict(extra="forbid")

    node_manager: int
    object_manager: int
    dashboard_agent_listen: int
    dashboard_agent_grpc: int
    runtime_env_agent: int
    metrics_export: int
    ray_client_server: int
    min_worker: int
    max_worker: int


class NodeState(BaseModel):
    """One node: how it was started and the process that owns it (`ray start --block`)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    role: Literal["head", "worker"]
    pool: str | None = None
    gpu_class: str | None = None
    accelerator_type: str | None = None
    num_gpus: int = 0
    num_cpus: int
    ports: NodePorts
    argv: list[str]
    log_path: str
    pid: int | None = None
    create_time: float | None = Field(default=None, description="psutil create_time of pid")
    node_id: str | None = None


class ClusterState(BaseModel):
    """Everything needed to reach, inspect and stop a cluster started by `coe cluster up`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    spec_path: str | None
    spec: ClusterSpec
    address: str
    node_ip: str | None = None
    dashboard_url: str
    serve_http_port: int
    temp_dir: str
    token_path: str
    started_at: str
    ready: bool = False
    nodes: list[NodeState]

    def node_by_name(self, name: str) -> NodeState | None:
        return next((node for node in self.nodes if node.name == name), None)


def state_dir() -> Path:
    path = cache_root() / "cluster"
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_path(name: str) -> Path:
    return state_dir() / f"{name}.json"


def save_state(state: ClusterState, path: Path | None = None) -> Path:
    """Write atomically (tmp + rename) so a reader never sees half a file."""
    path = path or state_path(state.name)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(state.model_dump_json(indent=2))
    os.replace(tmp, path)
    return path


def load_state(name: str, path: Path | None = None) -> ClusterState | None:
    """The recorded state of cluster `name`, or None when none is recorded."""
    path = path or state_path(name)
    if not path.is_file():
        return None
    return ClusterState.model_validate_json(path.read_text())


def remove_state(name: str, path: Path | None = None) -> None:
    (path or state_path(name)).unlink(missing_ok=True)


def recorded_cluster_names() -> list[str]:
    return sorted(path.stem for path in state_dir().glob("*.json"))


def resolve_cluster_name(name: str | None) -> str:
    """NAME, else $COE_CLUSTER, else the only recorded cluster; errors say what to pass."""
    if name:
        return name
    env = os.environ.get("COE_CLUSTER")
    if env:
        return env
    names = recorded_cluster_names()
    if len(names) == 1:
        return names[0]
    if not names:
        raise FileNotFoundError(
            f"no local cluster is recorded in {state_dir()}; start one with `coe cluster up`"
        )
    raise ValueError(
        f"several clusters are recorded ({', '.join(names)}); name one (or set COE_CLUSTER)"
    )

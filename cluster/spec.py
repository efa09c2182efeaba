"""Cluster specs: a CPU head plus node pools, one GPU class per pool (YAML, validated).

A spec describes the *shape* of a heterogeneous cluster (which GPU classes, how many nodes
and logical GPUs each) independently of how it is started, so the same file drives a local
emulation (`coe cluster up`) and documents what a real KubeRay cluster should provide.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cost_model.catalog import GPUCatalog, load_catalog

DEFAULT_SPEC = Path(__file__).with_name("default_cluster.yaml")

# Lower-case DNS label: valid as a Ray label value, a node name and a file name.
NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
Port = Annotated[int, Field(ge=1024, le=65535)]

# Fixed ports every node takes from its block, in this order (see NodePorts).
FIXED_PORTS_PER_NODE = 8


class ClusterSpecError(ValueError):
    """A cluster spec file is missing or invalid; the message names the field."""


class HeadPorts(BaseModel):
    """The head's well-known ports, plus where the per-node port blocks start."""

    model_config = ConfigDict(extra="forbid")

    gcs: Port = 6390
    dashboard: Port = 8265
    serve_http: Port = 8000
    node_port_base: Port = Field(
        default=22000,
        description="first port of the per-node blocks (node manager, object manager, "
        "agents, metrics, worker ports); node i uses base + i * block size",
    )
    worker_ports_per_node: int = Field(
        default=64, ge=8, le=4096, description="worker processes (replicas) a node can host"
    )

    @property
    def block_size(self) -> int:
        return FIXED_PORTS_PER_NODE + self.worker_ports_per_node


class HeadSpec(BaseModel):
    """The CPU-only head: GCS, dashboard, Serve controller, HTTP proxy and ingress."""

    model_config = ConfigDict(extra="forbid")

    num_cpus: int = Field(default=4, ge=1, description="logical CPUs (may exceed physical)")
    memory_gb: float | None = Field(default=None, gt=0)
    object_store_mb: int = Field(default=512, ge=78)
    ports: HeadPorts = Field(default_factory=HeadPorts)


class NodePool(BaseModel):
    """`node_count` identical nodes carrying `gpus_per_node` logical GPUs of one class."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    gpu_class: str = Field(description="a class of the GPU catalog (T4, L4, A100-40GB, ...)")
    gpus_per_node: int = Field(ge=1, le=64)
    node_count: int = Field(default=1, ge=1, le=16)
    num_cpus: int = Field(default=8, ge=1, description="logical CPUs (may exceed physical)")
    memory_gb: float | None = Field(default=None, gt=0)
    object_store_mb: int = Field(default=256, ge=78)


class ClusterSpec(BaseModel):
    """A whole cluster: a name (keys its state file), the head and the GPU pools."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    head: HeadSpec = Field(default_factory=HeadSpec)
    pools: list[NodePool] = Field(min_length=1)
    temp_dir: str | None = Field(
        default=None,
        description="Ray temp dir shared by all nodes of this cluster; default "
        "/tmp/coe-ray/<name> (kept short: Ray's socket paths must fit 107 bytes)",
    )

    @field_validator("pools")
    @classmethod
    def _unique_pool_names(cls, pools: list[NodePool]) -> list[NodePool]:
        names = [pool.name for pool in pools]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"pool names must be unique; repeated: {', '.join(duplicates)}")
        return pools

    @model_validator(mode="after")
    def _ports_do_not_overlap(self) -> ClusterSpec:
        ports = self.head.ports
        first = ports.node_port_base
        last = first + self.node_total * ports.block_size - 1
        if last > 65535:
            raise ValueError(
                f"head.ports.node_port_base: {self.node_total} nodes x {ports.block_size} ports "
                f"from {first} run past 65535; lower node_port_base or worker_ports_per_node"
            )
        named = {"gcs": ports.gcs, "dashboard": ports.dashboard, "serve_http": ports.serve_http}
        if len(set(named.values())) != len(named):
            raise ValueError(f"head.ports: gcs, dashboard and serve_http must differ: {named}")
        for field, port in named.items():
            if first <= port <= last:
                raise ValueError(
                    f"head.ports.{field}: port {port} lies inside the per-node port range "
                    f"{first}-{last} (head.ports.node_port_base)"
                )
        return self

    @property
    def node_total(self) -> int:
        """Head plus every pool node."""
        return 1 + sum(pool.node_count for pool in self.pools)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.head.ports.gcs}"

    def resolved_temp_dir(self) -> str:
        return self.temp_dir or f"/tmp/coe-ray/{self.name}"

    def check_gpu_classes(self, catalog: GPUCatalog) -> None:
        """Raise naming `pools[i].gpu_class` when a pool uses a class the catalog lacks."""
        for index, pool in enumerate(self.pools):
            if pool.gpu_class not in catalog.classes:
                known = ", ".join(sorted(catalog.classes))
                raise ClusterSpecError(
                    f"pools[{index}].gpu_class: unknown GPU class {pool.gpu_class!r} "
                    f"(pool {pool.name!r}); known classes: {known}"
                )


def _format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"invalid cluster spec {source}:"]
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"  {location}: {error['msg']}")
    return "\n".join(lines)


def parse_cluster_spec(
    data: object, source: str = "<dict>", catalog: GPUCatalog | None = None
) -> ClusterSpec:
    """Validate a mapping as a ClusterSpec; errors name the offending field."""
    if not isinstance(data, dict):
        raise ClusterSpecError(f"invalid cluster spec {source}: expected a mapping at top level")
    try:
        spec = ClusterSpec.model_validate(data)
    except ValidationError as exc:
        raise ClusterSpecError(_format_validation_error(exc, source)) from None
    spec.check_gpu_classes(catalog or load_catalog())
    return spec


def load_cluster_spec(
    path: str | Path | None = None, catalog: GPUCatalog | None = None
) -> ClusterSpec:
    """Load a spec YAML (default: the bundled cluster/default_cluster.yaml)."""
    path = Path(path) if path else DEFAULT_SPEC
    if not path.is_file():
        raise ClusterSpecError(f"cluster spec not found: {path}")
    with open(path) as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as exc:
            raise ClusterSpecError(f"cluster spec {path} is not valid YAML: {exc}") from None
    return parse_cluster_spec(data, source=str(path), catalog=catalog)

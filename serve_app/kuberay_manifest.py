"""Render a KubeRay `RayService` from a cascade config and a cluster spec.

Why: the same two files that drive the local emulated cluster (`coe cluster up` +
`coe serve deploy`) describe the real deployment. Each pool of the cluster spec becomes a
worker group on nodes of its GPU class (node selector, GPU taint toleration, GPU limits) and
declares `accelerator_type:<X>` in the group's Ray `resources`, so the autoscaler knows which
group to start when a member of that class is pending, also from zero replicas. The Serve
config (`serveConfigV2`) runs the same builder as `serve deploy configs/serve-config.yaml`,
with the cascade inlined so the manifest is self-contained. Pure data: no Ray, no Kubernetes.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from cascade.config import CascadeConfig
from cluster.placement import HEAD_RESOURCE
from cluster.serve_env import serve_env_defaults
from cluster.spec import ClusterSpec, NodePool
from cost_model.catalog import GPUCatalog

RAY_VERSION = "2.60.0"
DEFAULT_IMAGE = "ghcr.io/example/coe-serve:0.1.0"  # built from cluster/kuberay/Dockerfile
ASSETS_MOUNT = "/mnt/coe-assets"  # COE_ASSETS inside the pods (a read-only volume)
SERVE_PORT = 8000
GPU_TAINT_KEY = "nvidia.com/gpu"

# GKE's accelerator node label per catalog class; other clouds: pass --node-selector-label
# (e.g. NVIDIA GPU feature discovery's `nvidia.com/gpu.product`) and the values it uses.
GKE_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
GKE_ACCELERATORS = {
    "T4": "nvidia-tesla-t4",
    "L4": "nvidia-l4",
    "A10G": "nvidia-a10g",
    "A100-40GB": "nvidia-tesla-a100",
    "A100-80GB": "nvidia-a100-80gb",
    "H100": "nvidia-h100-80gb",
}
GIB_PER_CPU_DEFAULT = 4


class RenderOptions(BaseModel):
    """What the cluster spec and cascade do not say: image, names, where weights live."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="coe-serve", pattern=r"^[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?$")
    namespace: str | None = None
    image: str = DEFAULT_IMAGE
    app_name: str = Field(default="coe", pattern=r"^[A-Za-z0-9_.-]+$")
    node_selector_label: str = GKE_ACCELERATOR_LABEL
    node_selector_values: dict[str, str] = Field(
        default_factory=lambda: dict(GKE_ACCELERATORS),
        description="GPU class -> node label value",
    )
    assets_claim: str | None = Field(
        default="coe-assets",
        description="PersistentVolumeClaim holding the weights (models/resnet-cifar10/...); "
        "None when the image was built with the weights downloaded into it",
    )
    ingress_num_cpus: float = Field(default=0.5, ge=0)
    member_num_cpus: float = Field(default=0.25, ge=0)


class RenderError(ValueError):
    """The cascade cannot run on the cluster (e.g. a tier's GPU class has no pool)."""


def check_classes_covered(cascade: CascadeConfig, cluster: ClusterSpec) -> None:
    """Every tier's GPU class must have a pool; the error names the tier and the pools."""
    pool_classes = {pool.gpu_class for pool in cluster.pools}
    for index, tier in enumerate(cascade.tiers):
        if tier.gpu_class not in pool_classes:
            raise RenderError(
                f"tiers.{index}.gpu_class: {tier.gpu_class!r} (tier {tier.name!r}) has no pool "
                f"in cluster {cluster.name!r}; pools offer: {', '.join(sorted(pool_classes))}"
            )


def serve_config(cascade: CascadeConfig, options: RenderOptions) -> dict[str, Any]:
    """The Serve config dict (Ray's ServeDeploySchema) that builds this cascade."""
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": "0.0.0.0", "port": SERVE_PORT},
        "applications": [
            {
                "name": options.app_name,
                "route_prefix": "/",
                "import_path": "serve_app.app:build_app",
                "args": {
                    "config": cascade.model_dump(mode="json", exclude_none=True),
                    "check_models": True,
                    "ingress_num_cpus": options.ingress_num_cpus,
                    "member_num_cpus": options.member_num_cpus,
                    # the head declares the coe_head resource below
                    "pin_ingress_to_head": not cascade.ingress.colocate_first_tier,
                },
            }
        ],
    }


def _env(options: RenderOptions) -> list[dict[str, str]]:
    """The assets mount, and Serve's router settings (cluster/serve_env.py): Serve reads
    them at start-up in every process of the pod, the proxy included."""
    serve_env = [{"name": name, "value": value} for name, value in serve_env_defaults().items()]
    return [{"name": "COE_ASSETS", "value": ASSETS_MOUNT}, *serve_env]


def _volumes(options: RenderOptions) -> tuple[list[dict], list[dict]]:
    if options.assets_claim is None:
        return [], []
    volumes = [{"name": "coe-assets", "persistentVolumeClaim": {
        "claimName": options.assets_claim, "readOnly": True}}]
    mounts = [{"name": "coe-assets", "mountPath": ASSETS_MOUNT, "readOnly": True}]
    return volumes, mounts


def _memory_gib(memory_gb: float | None, num_cpus: int) -> str:
    gib = memory_gb if memory_gb is not None else GIB_PER_CPU_DEFAULT * num_cpus
    return f"{int(round(gib))}Gi"


def head_group(cluster: ClusterSpec, options: RenderOptions) -> dict[str, Any]:
    """CPU-only head: GCS, dashboard, Serve controller and proxy (and the ingress)."""
    head = cluster.head
    volumes, mounts = _volumes(options)
    memory = _memory_gib(head.memory_gb, head.num_cpus)
    container = {
        "name": "ray-head",
        "image": options.image,
        "env": _env(options),
        "ports": [
            {"containerPort": 6379, "name": "gcs"},
            {"containerPort": 8265, "name": "dashboard"},
            {"containerPort": 10001, "name": "client"},
            {"containerPort": SERVE_PORT, "name": "serve"},
            {"containerPort": 8080, "name": "metrics"},
        ],
        "resources": {
            "limits": {"cpu": str(head.num_cpus), "memory": memory},
            "requests": {"cpu": str(head.num_cpus), "memory": memory},
        },
        "volumeMounts": mounts,
    }
    return {
        "rayStartParams": {"dashboard-host": "0.0.0.0", "metrics-export-port": "8080"},
        # num GPUs 0: members never land on the head; coe_head pins the ingress there
        "resources": {"CPU": str(head.num_cpus), "GPU": "0", HEAD_RESOURCE: "1"},
        "template": {"spec": {"containers": [container], "volumes": volumes}},
    }


def worker_group(pool: NodePool, catalog: GPUCatalog, options: RenderOptions) -> dict[str, Any]:
    """One worker group per pool: its GPU class's nodes, GPUs and accelerator resource."""
    gpu = catalog.get(pool.gpu_class)
    label_value = options.node_selector_values.get(pool.gpu_class)
    if label_value is None:
        raise RenderError(
            f"no node selector value for GPU class {pool.gpu_class!r} (pool {pool.name!r}); "
            f"known: {', '.join(sorted(options.node_selector_values))}"
        )
    volumes, mounts = _volumes(options)
    memory = _memory_gib(pool.memory_gb, pool.num_cpus)
    limits = {"cpu": str(pool.num_cpus), "memory": memory,
              "nvidia.com/gpu": str(pool.gpus_per_node)}
    container = {
        "name": "ray-worker",
        "image": options.image,
        "env": _env(options),
        "resources": {"limits": limits, "requests": dict(limits)},
        "volumeMounts": mounts,
    }
    return {
        "groupName": pool.name,
        "replicas": 0,
        "minReplicas": 0,  # scale from zero: the autoscaler reads `resources` below
        "maxReplicas": pool.node_count,
        "idleTimeoutSeconds": 600,
        "rayStartParams": {"metrics-export-port": "8080"},
        "resources": {
            "CPU": str(pool.num_cpus),
            "GPU": str(pool.gpus_per_node),
            gpu.resource_name: "1",
        },
        "labels": {"coe-serve/pool": pool.name, "coe-serve/gpu-class": pool.gpu_class},
        "template": {
            "metadata": {"labels": {"coe-serve/gpu-class": pool.gpu_class}},
            "spec": {
                "nodeSelector": {options.node_selector_label: label_value},
                "tolerations": [{"key": GPU_TAINT_KEY, "operator": "Exists",
                                 "effect": "NoSchedule"}],
                "containers": [container],
                "volumes": volumes,
            },
        },
    }


def render_rayservice(
    cascade: CascadeConfig,
    cluster: ClusterSpec,
    catalog: GPUCatalog,
    options: RenderOptions | None = None,
) -> dict[str, Any]:
    """The RayService manifest as a dict (validate it with the CRD schema, then dump YAML)."""
    options = options or RenderOptions()
    check_classes_covered(cascade, cluster)
    metadata: dict[str, Any] = {
        "name": options.name,
        "labels": {"app.kubernetes.io/name": "coe-serve", "coe-serve/cascade": cascade.name},
    }
    if options.namespace:
        metadata["namespace"] = options.namespace
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": metadata,
        "spec": {
            "serveConfigV2": yaml.safe_dump(serve_config(cascade, options), sort_keys=False),
            "rayClusterConfig": {
                "rayVersion": RAY_VERSION,
                "enableInTreeAutoscaling": True,
                "authOptions": {"mode": "token"},
                "headGroupSpec": head_group(cluster, options),
                "workerGroupSpecs": [worker_group(p, catalog, options) for p in cluster.pools],
            },
        },
    }


HEADER = """\
# RayService for cascade {cascade!r} on cluster spec {cluster!r}: rendered by
#   coe kuberay render --cascade {cascade_path} --cluster {cluster_path} --out {out}
# Do not edit by hand; re-render. Image: cluster/kuberay/Dockerfile. Weights: PVC
# {claim} mounted at {mount} (COE_ASSETS), or baked into the image (see the Dockerfile).
# Each worker group declares accelerator_type:<X> so the autoscaler scales it from zero.
"""


def dump_manifest(manifest: dict[str, Any], header: str = "") -> str:
    """YAML text of a manifest; the Serve config stays a literal block string."""

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str):
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    body = yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, width=100)
    return header + body


def summary(manifest: dict[str, Any]) -> str:
    """One line per worker group (for the CLI)."""
    groups = manifest["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    return "\n".join(
        f"{g['groupName']}: {json.dumps(g['resources'])} max {g['maxReplicas']} node(s)"
        for g in groups
    )

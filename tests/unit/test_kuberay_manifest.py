"""Rendered RayService manifests against the KubeRay CRD schema and Ray's Serve config schema.

The CRD comes from the assets root ($COE_ASSETS/schemas/kuberay/), as a user's own schema
directory would; no Kubernetes API server is needed.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from cascade.config import load_cascade, parse_cascade
from cluster.serve_env import serve_env_defaults
from cluster.spec import load_cluster_spec
from coe.cli import main
from cost_model.catalog import load_catalog
from serve_app.kuberay_manifest import RenderError, RenderOptions, render_rayservice
from serve_app.kuberay_validate import (
    ManifestInvalid,
    crd_path,
    load_crd_schema,
    validate_against_crd,
    validate_rayservice,
    validate_serve_config,
)

REPO = Path(__file__).resolve().parents[2]
CASCADES = sorted(
    p for p in (REPO / "configs").glob("*.yaml") if not p.name.startswith("serve-config")
)
COMMITTED = {
    "rayservice.yaml": "configs/cifar10-coe.yaml",
    "rayservice-3tier.yaml": "configs/cifar10-coe-handset.yaml",
}


@pytest.fixture(scope="module")
def schema():
    if not crd_path().is_file():
        pytest.fail(f"KubeRay CRD missing at {crd_path()}: set COE_ASSETS to the assets root")
    return load_crd_schema("RayService")


def render(cascade_path, cluster_path=None, **options):
    catalog = load_catalog()
    return render_rayservice(
        load_cascade(cascade_path), load_cluster_spec(cluster_path, catalog=catalog), catalog,
        RenderOptions(**options),
    )


@pytest.mark.parametrize("cascade_path", CASCADES, ids=lambda p: p.name)
def test_every_shipped_cascade_renders_a_valid_rayservice(cascade_path, schema):
    manifest = render(cascade_path)
    validate_against_crd(manifest, schema)
    config = validate_serve_config(manifest["spec"]["serveConfigV2"])
    args = config["applications"][0]["args"]
    assert config["applications"][0]["import_path"] == "serve_app.app:build_app"
    assert args["config"]["tiers"] == load_cascade(cascade_path).model_dump(
        mode="json", exclude_none=True)["tiers"]


def test_heterogeneous_worker_groups_declare_class_selectors_taints_and_resources(schema):
    manifest = render(REPO / "configs" / "cifar10-coe-handset.yaml")
    validate_against_crd(manifest, schema)
    cluster = manifest["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    groups = {g["groupName"]: g for g in cluster["workerGroupSpecs"]}
    expected = {
        "t4": ("accelerator_type:T4", "nvidia-tesla-t4", "4"),
        "l4": ("accelerator_type:L4", "nvidia-l4", "2"),
        "a100": ("accelerator_type:A100-40G", "nvidia-tesla-a100", "2"),
    }
    assert set(groups) == set(expected)
    for name, (resource, selector, gpus) in expected.items():
        group = groups[name]
        pod = group["template"]["spec"]
        assert group["minReplicas"] == 0 and group["maxReplicas"] >= 1  # scales from zero
        assert group["resources"][resource] == "1"
        assert group["resources"]["GPU"] == gpus
        assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": selector}
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in (
            pod["tolerations"])
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == gpus
    pods = [cluster["headGroupSpec"]["template"]["spec"]] + [
        g["template"]["spec"] for g in groups.values()]
    for pod in pods:  # Serve reads its router settings at start-up, in every pod
        env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
        assert env.items() >= serve_env_defaults().items()
    head = cluster["headGroupSpec"]
    assert head["resources"]["GPU"] == "0" and head["resources"]["coe_head"] == "1"


def test_crd_validation_names_the_bad_field(schema):
    manifest = render(REPO / "configs" / "cifar10-coe-handset.yaml")
    broken = copy.deepcopy(manifest)
    broken["spec"]["rayClusterConfig"]["workerGroupSpecs"][1]["maxReplicas"] = "two"
    with pytest.raises(ManifestInvalid, match=r"workerGroupSpecs\.1\.maxReplicas"):
        validate_against_crd(broken, schema)
    broken = copy.deepcopy(manifest)
    del broken["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["groupName"]
    with pytest.raises(ManifestInvalid, match="groupName"):
        validate_against_crd(broken, schema)


def test_serve_config_checks_rays_schema_and_the_cascade():
    manifest = render(REPO / "configs" / "cifar10-coe.yaml")
    config = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    config["applications"][0]["import_path"] = 42
    config["proxy_location"] = "Somewhere"
    with pytest.raises(ManifestInvalid, match="ServeDeploySchema"):
        validate_serve_config(yaml.safe_dump(config))
    config = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    config["applications"][0]["args"]["config"]["tiers"][0]["gpu_class"] = "V100-XL"
    with pytest.raises(ManifestInvalid, match="unknown GPU class"):
        validate_serve_config(yaml.safe_dump(config))


def test_a_tier_class_without_a_pool_is_refused_naming_the_tier(tmp_path):
    cluster = yaml.safe_load((REPO / "cluster" / "default_cluster.yaml").read_text())
    cluster["pools"] = [p for p in cluster["pools"] if p["gpu_class"] != "A100-40GB"]
    path = tmp_path / "no-a100.yaml"
    path.write_text(yaml.safe_dump(cluster))
    with pytest.raises(RenderError, match=r"tiers\.2\.gpu_class: 'A100-40GB'"):
        render(REPO / "configs" / "cifar10-coe-handset.yaml", path)


def test_inline_cascade_in_the_serve_config_round_trips():
    cascade = load_cascade(REPO / "configs" / "cifar10-coe-handset.yaml")
    manifest = render(REPO / "configs" / "cifar10-coe-handset.yaml", assets_claim=None)
    args = yaml.safe_load(manifest["spec"]["serveConfigV2"])["applications"][0]["args"]
    assert parse_cascade(args["config"]) == cascade
    pod = manifest["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]
    assert pod["volumes"] == []  # weights baked into the image: no volume hides them


@pytest.mark.parametrize("manifest_name", sorted(COMMITTED))
def test_committed_manifests_are_current_and_valid(manifest_name, tmp_path, capsys):
    out = tmp_path / manifest_name
    assert main(["kuberay", "render", "--cascade", str(REPO / COMMITTED[manifest_name]),
                 "--out", str(out)]) == 0
    assert "valid against the RayService CRD" in capsys.readouterr().out
    fresh = yaml.safe_load(out.read_text())
    committed = yaml.safe_load((REPO / "cluster" / "kuberay" / manifest_name).read_text())
    assert committed == fresh, f"re-render cluster/kuberay/{manifest_name}"
    validate_rayservice(committed)

"""ClusterSpec validation: every error names the field a user has to fix."""

from __future__ import annotations

import copy

import pytest
import yaml

from cluster.spec import DEFAULT_SPEC, ClusterSpecError, load_cluster_spec, parse_cluster_spec
from cost_model.catalog import load_catalog

BASE = {
    "name": "unit",
    "head": {
        "num_cpus": 2,
        "ports": {
            "gcs": 6401,
            "dashboard": 8301,
            "serve_http": 18101,
            "node_port_base": 20000,
            "worker_ports_per_node": 16,
        },
    },
    "pools": [{"name": "t4", "gpu_class": "T4", "gpus_per_node": 2}],
}


def _with(**changes):
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        target = data
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return data


def test_default_spec_has_cpu_head_and_three_gpu_pools():
    spec = load_cluster_spec()
    assert spec.name == "coe-local"
    assert [pool.gpu_class for pool in spec.pools] == ["T4", "L4", "A100-40GB"]
    assert spec.head.ports.gcs == 6390 and spec.head.ports.dashboard == 8265
    assert spec.head.ports.serve_http == 8000
    assert spec.node_total == 4
    assert DEFAULT_SPEC.is_file()


def test_valid_spec_defaults():
    spec = parse_cluster_spec(BASE)
    assert spec.pools[0].node_count == 1
    assert spec.address == "127.0.0.1:6401"
    assert spec.resolved_temp_dir() == "/tmp/coe-ray/unit"


def test_unknown_gpu_class_names_the_field_and_known_classes():
    with pytest.raises(ClusterSpecError) as info:
        parse_cluster_spec(_with(pools__0__gpu_class="V100"))
    message = str(info.value)
    assert "pools[0].gpu_class" in message and "'V100'" in message
    for known in load_catalog().classes:
        assert known in message


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"pools__0__gpus_per_node": 0}, "pools.0.gpus_per_node"),
        ({"pools__0__node_count": 0}, "pools.0.node_count"),
        ({"pools__0__name": "Bad_Name"}, "pools.0.name"),
        ({"head__num_cpus": 0}, "head.num_cpus"),
        ({"head__ports__gcs": 80}, "head.ports.gcs"),
        ({"head__ports__dashbord": 8301}, "head.ports.dashbord"),
        ({"pools": []}, "pools"),
        ({"name": "has space"}, "name"),
    ],
)
def test_field_errors_name_the_field(changes, field):
    with pytest.raises(ClusterSpecError) as info:
        parse_cluster_spec(_with(**changes))
    assert f"  {field}:" in str(info.value)


def test_duplicate_pool_names_rejected():
    data = _with()
    data["pools"].append(dict(data["pools"][0]))
    with pytest.raises(ClusterSpecError, match="repeated: t4"):
        parse_cluster_spec(data)


def test_named_port_inside_node_port_range_rejected():
    with pytest.raises(ClusterSpecError, match="head.ports.serve_http"):
        parse_cluster_spec(_with(head__ports__serve_http=20005))


def test_port_blocks_past_65535_rejected():
    with pytest.raises(ClusterSpecError, match="node_port_base"):
        parse_cluster_spec(_with(head__ports__node_port_base=65500))


def test_missing_and_non_mapping_files(tmp_path):
    with pytest.raises(ClusterSpecError, match="not found"):
        load_cluster_spec(tmp_path / "nope.yaml")
    path = tmp_path / "list.yaml"
    path.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ClusterSpecError, match="mapping"):
        load_cluster_spec(path)

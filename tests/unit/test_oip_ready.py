"""/v2/health/ready is ready only when Serve reports every member deployment HEALTHY
(members colocated in the ingress process are not separate deployments)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from cascade.config import parse_cascade
from serve_app.oip import is_oip_path, member_deployments, unhealthy_members

CONFIG = {
    "name": "c",
    "tiers": [
        {"name": "t0", "gpu_class": "T4", "members": [{"model": "cnn_a"}, {"model": "cnn_b"}]},
        {"name": "t1", "gpu_class": "L4", "members": [{"model": "resnet20"}]},
    ],
}


def _ingress(local=()):
    config = parse_cascade(CONFIG, check_models=False)
    return SimpleNamespace(config=config, local_members={name: None for name in local})


def _status(states: dict[str, str]):
    deployments = {name: SimpleNamespace(status=state) for name, state in states.items()}
    return SimpleNamespace(applications={"app": SimpleNamespace(deployments=deployments)})


def _patch_serve(monkeypatch, states):
    from ray import serve

    monkeypatch.setattr(serve, "status", lambda: _status(states))
    monkeypatch.setattr(serve, "get_replica_context", lambda: SimpleNamespace(app_name="app"))


def test_ready_when_every_member_deployment_is_healthy(monkeypatch):
    _patch_serve(monkeypatch, {"t0-cnn_a": "HEALTHY", "t0-cnn_b": "HEALTHY",
                               "t1-resnet20": "HEALTHY", "CascadeIngress": "HEALTHY"})
    assert asyncio.run(unhealthy_members(_ingress())) == []


def test_not_ready_names_each_unhealthy_or_missing_member(monkeypatch):
    _patch_serve(monkeypatch, {"t0-cnn_a": "HEALTHY", "t0-cnn_b": "UNHEALTHY"})
    bad = asyncio.run(unhealthy_members(_ingress()))
    assert bad == ["t0-cnn_b: UNHEALTHY", "t1-resnet20: MISSING"]


def test_colocated_members_are_not_deployments():
    ingress = _ingress(local=("t0-cnn_a", "t0-cnn_b"))
    assert member_deployments(ingress) == ["t1-resnet20"]


def test_oip_paths_below_a_route_prefix():
    def request(path, root=""):
        return SimpleNamespace(url=SimpleNamespace(path=path), scope={"root_path": root})

    assert is_oip_path(request("/v2")) and is_oip_path(request("/app/v2/models/x", "/app"))
    assert not is_oip_path(request("/v1/classify")) and not is_oip_path(request("/v2x"))

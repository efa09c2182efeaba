"""An edge client and the server answer 200 real test images together.

The default cascade (configs/cifar10-coe.yaml, the planner's match-best plan, with tier 0
colocated in the ingress) is deployed on the session's private Ray + Serve. The
user's view: `coe classify --edge` on two files, then the Python client over 200
CIFAR-10-JPEG test images, next to the all-cloud client on the same images.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from load_tests.client.images import load_request_images
from serve_app.edge_client import EdgeClient
from tests.integration.serve_helpers import deployed_app

REPO = Path(__file__).resolve().parents[2]
APP, PREFIX = "e2e-edge", "/e2e-edge"
N_IMAGES = 200


@pytest.fixture(scope="module")
def edge_url(shared_ray_serve):
    with deployed_app(shared_ray_serve, "configs/cifar10-coe.yaml", APP, PREFIX,
                      timeout_s=120) as url:
        yield url


@pytest.fixture(scope="module")
def images():
    return load_request_images(N_IMAGES)


def test_coe_classify_edge_prints_one_answer_per_file(edge_url, images):
    files = [images[0].path, images[1].path]
    result = subprocess.run(
        [sys.executable, "-m", "coe", "classify", "--edge", *files, "--url", edge_url, "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert len(answers) == 2
    for answer in answers:
        assert answer["answered_at"] in ("edge", "cloud") and answer["latency_ms"] > 0
        assert (answer["bytes_up"] == 0) == (answer["answered_at"] == "edge")


@pytest.mark.timeout(900)
def test_edge_and_server_answer_200_images_like_the_all_cloud_cascade(edge_url, images):
    import torch

    torch.set_num_threads(1)
    before = httpx.get(edge_url + "/v1/stats", timeout=30).json()["traffic"]
    edge, cloud = EdgeClient(edge_url, edge_tiers=1), EdgeClient(edge_url, edge_tiers=0)
    at_edge = [edge.classify(im.body) for im in images]
    all_cloud = [cloud.classify(im.body) for im in images]
    same = sum((e.exit_index, e.label) == (c.exit_index, c.label)
               for e, c in zip(at_edge, all_cloud, strict=True))
    assert same >= 0.995 * N_IMAGES, f"only {same}/{N_IMAGES} agree"
    local = [p for p in at_edge if p.answered_at == "edge"]
    sent = [p for p in at_edge if p.answered_at == "cloud"]
    assert local and sent, "expected both local exits and escalations"
    assert all(p.exit_index == 0 and p.bytes_up == 0 and p.cloud_usd == 0 for p in local)
    assert all(p.exit_index >= 1 and p.bytes_up > 0 and p.cloud_usd > 0 for p in sent)
    assert all(p.tiers[0].site == "edge" and p.tiers[1].site == "cloud" for p in sent)
    # fewer bytes and dollars than all-cloud, and the server saw exactly the escalations
    assert sum(p.bytes_up for p in at_edge) < sum(p.bytes_up for p in all_cloud)
    assert sum(p.cloud_usd for p in at_edge) < sum(p.cloud_usd for p in all_cloud)
    after = httpx.get(edge_url + "/v1/stats", timeout=30).json()["traffic"]
    escalated = after["edge_escalated"]["images"] - before["edge_escalated"]["images"]
    full = after["full_cascade"]["images"] - before["full_cascade"]["images"]
    assert (escalated, full) == (len(sent), N_IMAGES)
    accuracy = sum(p.label == im.label for p, im in zip(at_edge, images, strict=True))
    assert accuracy / N_IMAGES > 0.6  # real models, real images (about 0.84 on the full set)

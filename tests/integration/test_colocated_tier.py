"""`ingress.colocate_first_tier`: tier 0's members run inside the ingress replica.

Same answers and costs as the deployed members, one Serve deployment fewer per tier-0
member, and the ingress takes tier 0's GPU class and GPU share.
"""

from __future__ import annotations

import httpx
import pytest

from serve_app.schemas import ClassifyResponse
from tests.integration.serve_helpers import deployed_app
from tests.integration.test_cascade_serve import PNG, png, standin

APP = "it-colocated"
PREFIX = "/it-colocated"
CONFIG = {
    "name": "it-colocated",
    "tiers": [
        {"name": "small", "gpu_class": "T4", "members": [standin(0, "a"), standin(1, "b")]},
        {"name": "mid", "gpu_class": "L4", "members": [standin(2, "c")]},
    ],
    "ingress": {"colocate_first_tier": True},
}


@pytest.fixture(scope="module")
def colocated_url(ray_serve):


    with deployed_app(ray_serve, CONFIG, APP, PREFIX) as url:
        yield url


def _classify(url: str, votes: list[int]):
    response = httpx.post(url + "/v1/classify", content=png(votes), headers=PNG, timeout=60)
    assert response.status_code == 200, response.text
    return ClassifyResponse.model_validate(response.json()).predictions[0]


def test_first_tier_runs_in_the_ingress_on_its_gpu_class(colocated_url):
    from ray.serve.context import _get_global_client

    deployments = _get_global_client().get_serve_details()["applications"][APP]["deployments"]
    assert set(deployments) == {"CascadeIngress", "mid-c"}
    options = deployments["CascadeIngress"]["deployment_config"]["ray_actor_options"]
    assert options["num_gpus"] == pytest.approx(0.5)  # two members at 0.25 each
    assert "accelerator_type:T4" in options["resources"]


def test_colocated_members_decide_exit_and_bill_like_deployed_ones(colocated_url):
    pred = _classify(colocated_url, [3, 3, 9])
    assert (pred.label, pred.exit_tier.name) == (3, "small")
    assert pred.tiers[0].votes == {"a": 3, "b": 3}
    assert set(pred.cost.device_seconds_by_gpu_class) == {"T4"}
    assert pred.cost.device_seconds_by_gpu_class["T4"] > 0 and pred.cost.emulated

    pred = _classify(colocated_url, [1, 2, 5])
    assert pred.tiers[0].votes == {"a": 1, "b": 2}, pred
    assert (pred.label, pred.exit_tier.name) == (5, "mid")
    assert set(pred.cost.device_seconds_by_gpu_class) == {"T4", "L4"}

"""A learned (EENet) plan, deployed on Ray Serve, does per image what the planner predicted.

As test_plan_matches_server does for agreement plans: stand-in members (their votes are
painted into the pixels) give known predictions; the schedulers are trained and the
thresholds set for a budget on those predictions; the exported config is served; 1,000
images go over HTTP and each one's exit tier and label are compared with
`planner.simulate`. The config carries a budget with the keeper OFF (static thresholds),
and /v1/stats must report the target and the realised cost.
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from planner.costs import uniform_cost_table
from planner.export import to_cascade_config
from planner.learned_budget import meet_budget, sim_cost
from planner.learned_plan import train_structure
from planner.learned_train import TrainSettings
from planner.simulate import TierSpec, simulate
from serve_app.schemas import ClassifyResponse, StatsResponse
from tests.fixtures.standin import paint
from tests.integration.serve_helpers import delete_app
from tests.integration.test_plan_matches_server import png_b64

APP = "it-learned"
PREFIX = "/it-learned"
GPUS = ("T4",)
POOL = [f"module:tests.fixtures.standin:member{j}" for j in range(4)]
N_IMAGES = 1000
PER_REQUEST = 50


def make_images(n: int, seed: int = 5):
    """Member j is right with probability 0.5 + 0.12 j, else votes noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    right = rng.random((n, 4)) < 0.5 + 0.12 * np.arange(4)
    votes = np.where(right, labels[:, None], rng.integers(0, 10, (n, 4)))
    return np.stack([paint(list(v)) for v in votes]), labels


@pytest.fixture(scope="module")
def learned_plan(ray_serve):
    from ray import serve

    from serve_app.app import build_app
    from zoo.registry import load_member

    images, labels = make_images(N_IMAGES)
    probs = {spec: load_member(spec).predict_probs(images) for spec in POOL}
    costs = uniform_cost_table({spec: 1.0 + j for j, spec in enumerate(POOL)}, GPUS)
    structure = [TierSpec((POOL[0], POOL[1]), "learned", 0.5, "mean", "T4"),
                 TierSpec((POOL[2],), "learned", 0.5, "mean", "T4"),
                 TierSpec((POOL[3],), "learned", 0.0, "mean", "T4")]
    budget = 5.0  # device-ms per image: tier 0 alone costs 3, every tier 10
    trained = train_structure(structure, probs, labels, costs, budget, "device_ms",
                              TrainSettings(epochs=40))
    fit = meet_budget(trained.structure, trained.schedulers, trained.base, probs, labels,
                      costs, budget, "device_ms")
    # few distinct feature values here (stand-ins vote with probability ~1): ties make the
    # cost a coarse step function of the threshold, so B is met from below within 10%
    assert fit.feasible and 0.9 * budget <= sim_cost(fit.sim, "device_ms") <= budget
    config = to_cascade_config(fit.tiers, name=APP, max_batch_size=8, colocate_first_tier=False,
                               budget={"target": budget, "unit": "device_ms"})
    raw = config.model_dump(mode="json", exclude_none=True)
    raw["ingress"]["max_images_per_request"] = PER_REQUEST
    serve.run(build_app({"config": raw}), name=APP, route_prefix=PREFIX)
    yield ray_serve + PREFIX, images, simulate(fit.tiers, probs, labels, costs), budget
    delete_app(APP)


def test_learned_server_matches_offline_simulation_on_1000_images(learned_plan):
    url, images, predicted, budget = learned_plan
    preds = []
    with httpx.Client(base_url=url, timeout=300.0) as client:
        for start in range(0, len(images), PER_REQUEST):
            chunk = images[start:start + PER_REQUEST]
            response = client.post("/v1/classify", json={"images": [png_b64(i) for i in chunk]})
            assert response.status_code == 200, response.text
            preds += ClassifyResponse.model_validate(response.json()).predictions
        stats = StatsResponse.model_validate(client.get("/v1/stats").json())
    same = np.mean([
        p.exit_tier.index == int(t) and p.label == int(y)
        for p, t, y in zip(preds, predicted.exit_tier, predicted.predictions, strict=True)
    ])
    assert same >= 0.995, f"only {same:.4f} of images match the offline simulation"
    assert len(set(predicted.exit_tier.tolist())) == 3  # every tier answers some images
    assert stats.budget is not None and stats.budget.target == budget
    assert stats.budget.images == len(images) and not stats.budget.enabled
    assert stats.budget.realized is not None and stats.budget.realized > 0

"""A planned cascade, deployed on Ray Serve, does per image exactly what the planner predicted.

Stand-in members (tests.fixtures.standin) vote what each image's pixels say, so the pool's
predictions are known; the planner searches them, exports a config, the server runs it, and
every image's exit tier and label must match `planner.simulate` on the same images.
"""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import pytest
from PIL import Image

from planner.costs import uniform_cost_table
from planner.export import to_cascade_config
from planner.search import SearchSpace, search_cascades
from planner.simulate import simulate
from serve_app.schemas import ClassifyResponse
from tests.fixtures.standin import paint
from tests.integration.serve_helpers import delete_app

APP = "it-plan"
PREFIX = "/it-plan"
GPUS = ("T4", "L4", "A100-40GB")
POOL = [f"module:tests.fixtures.standin:member{j}" for j in range(5)]


def make_images(n: int = 48, seed: int = 3):
    """True label y; member j is right with probability 0.55 + 0.1 j, else votes noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    votes = np.where(
        rng.random((n, 5)) < 0.55 + 0.1 * np.arange(5), labels[:, None], rng.integers(0, 10, (n, 5))
    )
    images = np.stack([paint(list(v)) for v in votes])
    return images, labels


def png_b64(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@pytest.fixture(scope="module")
def planned(ray_serve):
    from ray import serve

    from serve_app.app import build_app
    from zoo.registry import load_member

    images, labels = make_images()
    probs = {spec: load_member(spec).predict_probs(images) for spec in POOL}
    costs = uniform_cost_table({spec: 1.0 + j for j, spec in enumerate(POOL)}, GPUS)
    cands = search_cascades(probs, labels, POOL, costs, GPUS, "agreement",
                            SearchSpace(max_members=2), progress=False)
    deep = np.nonzero(cands.structure[:, 0] >= 0)[0]  # cascades with at least 2 tiers
    assert deep.size, "the search should find multi-tier cascades on this pool"
    k = int(deep[np.argmax(cands.correct_count[deep])])
    tiers = cands.tiers(k)
    config = to_cascade_config(tiers, name=APP, max_batch_size=8)
    serve.run(build_app({"config": config.model_dump(mode="json", exclude_none=True)}),
              name=APP, route_prefix=PREFIX)
    yield ray_serve + PREFIX, images, labels, simulate(tiers, probs, labels, costs), tiers
    delete_app(APP)


def test_server_exits_and_labels_match_the_plan(planned):
    url, images, labels, predicted, tiers = planned
    with httpx.Client(base_url=url, timeout=120.0) as client:
        response = client.post("/v1/classify", json={"images": [png_b64(i) for i in images]})
    assert response.status_code == 200, response.text
    preds = ClassifyResponse.model_validate(response.json()).predictions
    assert [p.exit_tier.index for p in preds] == predicted.exit_tier.tolist()
    assert [p.label for p in preds] == predicted.predictions.tolist()
    served_accuracy = float(np.mean([p.label == y for p, y in zip(preds, labels, strict=True)]))
    assert served_accuracy == pytest.approx(predicted.accuracy)
    assert len(tiers) >= 2 and len(set(predicted.exit_tier.tolist())) >= 2

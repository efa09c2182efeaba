"""Live load gears on Ray Serve: the arrival rate switches thresholds, not models.

Stand-in members (votes painted into the pixels) disagree on every image, so under the
accurate gear (tier 0 must agree) each image escalates to tier 1, and under the fast gear
(tier 0 agreement threshold 0) each exits at tier 0. A single image keeps the ingress in the
accurate gear; a burst of 16 images moves it to the fast gear before they run.
"""

from __future__ import annotations

import httpx
import numpy as np

from serve_app.schemas import ClassifyResponse, StatsResponse
from tests.fixtures.standin import paint
from tests.integration.serve_helpers import deployed_app
from tests.integration.test_plan_matches_server import png_b64

STANDIN = "module:tests.fixtures.standin:member"
CONFIG = {
    "name": "it-gears",
    "tiers": [
        {"name": "tier0", "gpu_class": "T4", "combine": "vote",
         "exit_policy": {"kind": "agreement", "threshold": 1.0},
         "members": [{"model": STANDIN + "0"}, {"model": STANDIN + "1"}]},
        {"name": "tier1", "gpu_class": "T4",
         "exit_policy": {"kind": "agreement", "threshold": 0.0},
         "members": [{"model": STANDIN + "2"}]},
    ],
    "gears": {"hysteresis": 0.15, "gears": [
        {"name": "accurate", "thresholds": [1.0], "max_rate_per_s": 3.0},
        {"name": "fast", "thresholds": [0.0], "max_rate_per_s": 1.0e9}]},
}


def disagreeing(n: int) -> list[str]:
    return [png_b64(np.asarray(paint([1, 2, 3]))) for _ in range(n)]


def test_a_burst_switches_the_gear_and_the_exit_tier_follows(ray_serve):
    with deployed_app(ray_serve, CONFIG, "it-gears", "/it-gears") as url, \
            httpx.Client(base_url=url, timeout=120) as client:
        first = ClassifyResponse.model_validate(
            client.post("/v1/classify", json={"images": disagreeing(1)}).json())
        assert first.gear == "accurate"
        assert [p.exit_tier.name for p in first.predictions] == ["tier1"]
        burst = ClassifyResponse.model_validate(
            client.post("/v1/classify", json={"images": disagreeing(16)}).json())
        assert burst.gear == "fast"
        assert {p.exit_tier.name for p in burst.predictions} == {"tier0"}
        stats = StatsResponse.model_validate(client.get("/v1/stats").json())
        assert stats.gears["active"] == "fast" and stats.gears["switches"] == 1
        assert stats.gears["thresholds"] == {"tier0": 0.0}

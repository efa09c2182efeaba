"""Sample how many replicas each Serve deployment holds while a load test runs.

The counts come from `serve.status()` (needs a driver connected to the Ray cluster); the GPU
class and fraction of each deployment come from the cascade config (the same placement the
app was built with). The samples feed cost_model.provisioned, which stays pure.
Replicas counted as holding a GPU: RUNNING, UPDATING, RECOVERING, STOPPING and
PENDING_MIGRATION. STARTING is left out because it includes replicas still waiting for
resources; during a scale-up this slightly underestimates what is provisioned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cost_model.provisioned import ReplicaSample

HOLDING_STATES = frozenset({"RUNNING", "UPDATING", "RECOVERING", "STOPPING", "PENDING_MIGRATION"})


@dataclass(frozen=True)
class Placement:
    """Where one deployment's replicas live: GPU class (None = CPU only) and GPU share."""

    gpu_class: str | None
    gpu_fraction: float


INGRESS_DEPLOYMENT = "CascadeIngress"


def placement_from_cascade(config: Any) -> dict[str, Placement]:
    """Deployment name -> placement for every member deployment of a serve_app
    CascadeConfig; with colocate_first_tier the ingress holds the first tier's GPU share."""
    from cascade.config import colocated_gpu_share

    colocated = config.tiers[0] if config.ingress.colocate_first_tier else None
    placement = {
        config.deployment_name(tier, member): Placement(tier.gpu_class, member.gpu_fraction)
        for tier in config.tiers if tier is not colocated
        for member in tier.members
    }
    if colocated is not None:
        placement[INGRESS_DEPLOYMENT] = Placement(colocated.gpu_class,
                                                  colocated_gpu_share(colocated))
    return placement


def samples_from_status(
    status: Any, placement: dict[str, Placement], t: float, app_name: str | None = None
) -> list[ReplicaSample]:
    """Turn one `serve.status()` snapshot into replica samples at wall time `t`."""
    samples = []
    for name, app in status.applications.items():
        if app_name is not None and name != app_name:
            continue
        for deployment, overview in app.deployments.items():
            replicas = sum(
                count for state, count in overview.replica_states.items()
                if str(getattr(state, "value", state)) in HOLDING_STATES
            )
            where = placement.get(deployment, Placement(None, 0.0))
            samples.append(ReplicaSample(
                t=t, deployment=deployment, replicas=replicas,
                gpu_class=where.gpu_class, gpu_fraction=where.gpu_fraction,
            ))
    return samples


def _serve_status() -> Any:
    from ray import serve

    return serve.status()


class ServeReplicaSampler:
    """Polls Serve in a background thread every `interval_s`; `stop()` returns the timeline."""

    def __init__(
        self,
        placement: dict[str, Placement],
        *,
        interval_s: float = 1.0,
        app_name: str | None = None,
        status_fn: Callable[[], Any] = _serve_status,
    ) -> None:
        self.placement = placement
        self.interval_s = interval_s
        self.app_name = app_name
        self.status_fn = status_fn
        self.timeline: list[ReplicaSample] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample_once(self) -> None:
        try:
            status = self.status_fn()
        except Exception as exc:  # noqa: BLE001 - a failed poll must not kill the load run
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return
        self.timeline.extend(samples_from_status(status, self.placement, time.time(),
                                                 self.app_name))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample_once()

    def start(self) -> None:
        self.sample_once()
        self._thread = threading.Thread(target=self._loop, name="replica-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> list[ReplicaSample]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_s + 30)
        self.sample_once()
        return list(self.timeline)

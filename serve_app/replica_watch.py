"""The image door follows the first tier's running replicas.

The door (`ingress.max_inflight_images`) is sized for the configured replicas. When one of
them dies, its calls go to the survivors, which then work through a full door at a fraction
of the capacity: every admitted request waits longer (Little's law) until the replacement
runs, 10 s or more on a busy host. Shrinking the door by the first tier's running share
keeps the admitted requests' latency where it was, and turns the lost capacity into fast
503s with Retry-After, which is what the door is for.

Only the first tier is watched: it sees every image, an upper tier only the escalated ones.
Members colocated in the ingress, and autoscaled members (their count moves by design, and
the autoscaling config's door is sized for max_replicas), are not watched.

The watch polls `serve.status()` every second while it is on. Waiting for a member call
that failed with its replica was tried and dropped: in tests/reliability/
test_member_failure.py (two kills under load) no such failure reached the ingress's
caller, presumably because Serve's router re-sent those calls itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

logger = logging.getLogger("ray.serve")


def running_share(replica_states: Mapping[str, Mapping[str, int]],
                  configured: Mapping[str, int]) -> float:
    """The smallest running / configured over the watched deployments, in (0, 1]. A
    deployment missing from the status, or with none running, counts as one replica: the
    door never closes on one member (its calls fail fast and the quorum rules answer)."""
    share = 1.0
    for name, wanted in configured.items():
        running = replica_states.get(name, {}).get("RUNNING", 0)
        share = min(share, max(running, 1) / wanted)
    return share


def watched_deployments(config) -> dict[str, int]:
    """Deployment name -> deployed replicas of the first tier's watched members (the same
    options the builder deploys with: replication may raise a count)."""
    from cascade.autoscaling import replica_options
    from serve_app.redundancy_wiring import protected_replica_options

    if config.ingress.colocate_first_tier:
        return {}
    tier = config.tiers[0]
    watched = {}
    for member in tier.members:
        options = protected_replica_options(config, 0, replica_options(tier, member))
        if "num_replicas" in options:  # not autoscaled
            watched[config.deployment_name(tier, member)] = options["num_replicas"]
    return watched


def serve_replica_states(app_name: str) -> dict[str, dict[str, int]]:
    """Replica counts by state of every deployment of `app_name`, from `serve.status()`."""
    from ray import serve

    app = serve.status().applications.get(app_name)
    if app is None:
        return {}
    return {name: dict(d.replica_states) for name, d in app.deployments.items()}


class ReplicaWatch:
    """Polls the watched deployments' replica states and hands the running share to
    `apply` whenever it changes. Started on the replica's event loop."""

    def __init__(self, app_name: str, configured: Mapping[str, int],
                 apply: Callable[[float], None], interval_s: float = 1.0,
                 states: Callable[[str], Mapping[str, Mapping[str, int]]] | None = None):
        self.app_name = app_name
        self.configured = dict(configured)
        self.apply = apply
        self.interval_s = interval_s
        self.states = states or serve_replica_states
        self.share = 1.0
        self.polls = 0
        self.errors = 0
        self._task: asyncio.Task | None = None

    def ensure_started(self) -> None:
        """Start polling (once) on the running loop; nothing to watch, nothing started."""
        if self.configured and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._poll())

    async def check_once(self) -> float:
        """One poll: read the states (on a thread: `serve.status()` blocks) and apply."""
        states = await asyncio.to_thread(self.states, self.app_name)
        self.polls += 1
        share = running_share(states, self.configured)
        if share != self.share:
            self.share = share
            self.apply(share)
        return share

    async def _poll(self) -> None:
        while True:
            try:
                await self.check_once()
            except Exception as exc:  # noqa: BLE001 - keep the last share meanwhile
                self.errors += 1
                logger.warning("replica watch: status unreachable (%s); door kept at %.2f",
                               type(exc).__name__, self.share)
            await asyncio.sleep(self.interval_s)


def door_stats(admission, watch: ReplicaWatch):
    """The door's state for `/v1/stats` (serve_app.schemas.DoorStats)."""
    from serve_app.schemas import DoorStats

    return DoorStats(limit=admission.limit, configured_limit=admission.configured_limit,
                     running_share=watch.share, watched=sorted(watch.configured),
                     in_flight=admission.in_flight, refused_requests=admission.refused,
                     shrinks=admission.shrinks, status_polls=watch.polls)

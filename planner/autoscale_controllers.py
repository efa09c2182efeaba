"""The autoscalers the simulator compares, each built on `cascade.autoscale_policy`.

- static_peak: replicas fixed at what the sizing function asks for at the trace's peak rate
  and the highest reach of the trace (what a fixed deployment must hold).
- serve_default: a model of Serve's default per-deployment autoscaler: replicas = ongoing
  requests / target_ongoing_requests, with Serve's delays; it sees only its own queue.
- escalation_aware: every tier sized from ingress rate x live reach (exit counters), the
  function the live application-level policy calls, with the same delays.
- escalation_aware_gears: the same, and the exit thresholds follow the load (gears).
- oracle_follower (a bound, not a policy): knows the trace ahead, sizes every tier for the
  coming rate x reach with the same function and headroom, scales up a cold start early and
  down at once. What any causal follower at that headroom pays at least (no gears).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cascade.autoscale_policy import (
    DelayState,
    MemberLoadModel,
    apply_delays,
    desired_replicas,
    queue_driven_replicas,
    reach_from_exits,
    replicas_for_rate,
)
from cascade.gears import Gear, select_gear
from planner.cluster_sim import GearBehaviour, Observation
from planner.sim_traces import Trace


class StaticController:
    def __init__(self, replicas: dict[str, int]):
        self.replicas = dict(replicas)

    def __call__(self, obs: Observation) -> tuple[dict[str, int], int]:
        return dict(self.replicas), obs.gear


class ServeDefaultController:
    def __init__(self, members: Sequence[MemberLoadModel], target_ongoing_requests: float,
                 upscale_delay_s: float, downscale_delay_s: float):
        self.members = list(members)
        self.target = target_ongoing_requests
        self.delays = (upscale_delay_s, downscale_delay_s)
        self.state = DelayState()

    def __call__(self, obs: Observation) -> tuple[dict[str, int], int]:
        desired = {
            m.deployment: queue_driven_replicas(
                obs.ongoing[m.deployment], self.target, obs.replicas[m.deployment],
                m.min_replicas, m.max_replicas)
            for m in self.members
        }
        return apply_delays(desired, obs.replicas, obs.now_s, self.state, *self.delays), obs.gear


class EscalationAwareController:
    """Sizes from rate x live reach. With gears: a shift to a cheaper gear happens at once;
    a shift back to a gear that escalates more is first announced to the sizing (its
    planned reach) and made only `warmup_s` later, when the upper tiers have their replicas."""

    def __init__(self, members: Sequence[MemberLoadModel], headroom: float,
                 upscale_delay_s: float, downscale_delay_s: float,
                 gears: Sequence[Gear] | None = None, hysteresis: float = 0.15,
                 warmup_s: float = 0.0):
        self.members = list(members)
        self.headroom = headroom
        self.delays = (upscale_delay_s, downscale_delay_s)
        self.gears = list(gears or [])
        self.hysteresis = hysteresis
        self.warmup_s = warmup_s
        self.pending: tuple[int, float] | None = None  # (gear, time it may start)
        self.state = DelayState()

    def _gear(self, obs: Observation) -> tuple[int, tuple[float, ...] | None]:
        """The gear to run now, and the reach to size for ahead of a pending shift."""
        wanted = select_gear(obs.arrival_rate, obs.gear, self.gears, self.hysteresis)
        if wanted >= obs.gear:
            self.pending = None
            return wanted, None
        if self.pending is None or self.pending[0] != wanted:
            self.pending = (wanted, obs.now_s + self.warmup_s)
        if obs.now_s >= self.pending[1]:
            self.pending = None
            return wanted, None
        return obs.gear, tuple(self.gears[wanted].expected_reach)

    def __call__(self, obs: Observation) -> tuple[dict[str, int], int]:
        gear = obs.gear
        reach = reach_from_exits(list(obs.exits_per_tier))
        if self.gears:
            gear, ahead = self._gear(obs)
            if ahead:
                reach = tuple(max(r, p) for r, p in zip(reach, ahead, strict=False))
        desired = desired_replicas(obs.arrival_rate, reach, self.members, self.headroom)
        return apply_delays(desired, obs.replicas, obs.now_s, self.state, *self.delays), gear


class OracleFollower:
    """Sizes every tier for the largest rate x reach of the next `lead_s` of the trace,
    with no delays: a bound on what following the load can save, not a deployable policy."""

    def __init__(self, members: Sequence[MemberLoadModel], headroom: float, trace: Trace,
                 behaviour: GearBehaviour, lead_s: float):
        self.members = list(members)
        self.headroom = headroom
        reach = np.stack([behaviour.reach(float(m)) for m in trace.hard_mix])
        self.tier_rate = trace.rate_per_s[:, None] * reach  # (ticks, tiers) req/s per tier
        self.tick_s = trace.tick_s
        self.lead = max(1, int(np.ceil(lead_s / trace.tick_s)))

    def replicas_at(self, now_s: float) -> dict[str, int]:
        i = int(round(now_s / self.tick_s))
        ahead = self.tier_rate[max(i, 0):i + self.lead + 1].max(axis=0)
        return {m.deployment: replicas_for_rate(m, float(ahead[m.tier]), self.headroom)
                for m in self.members}

    def __call__(self, obs: Observation) -> tuple[dict[str, int], int]:
        return self.replicas_at(obs.now_s), obs.gear

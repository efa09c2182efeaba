"""Shield one tier's member calls from stragglers: collage backup or replication.

The runner asks the tier's shield for a round per batch (`start(batch)`) and lets the
round wrap every member call (`protect`). Collage: every image of the batch is submitted
to the CollageBatcher at once, in parallel with the member calls (with `skip_answered`, an
image whose member calls all ended, none failed, before its group left is withdrawn: it
needs no backup); a member answer later than the straggler timeout
(cascade.redundancy.StragglerTimeout) or a failed call is replaced by the first of (the
late member answer, the image's collage cell), the latter marked source "collage". A
straggler is slower than its peers: when no other member's call on the image has ended by
the timeout either, the whole tier is slow (load, not a straggler), so the timeout counts
again from the first peer's answer; overload then reaches the door as 503s instead of
collage answers. With `peer_lag_margin` set (cascade.redundancy.PeerLag), a member is a
straggler once it is its learned slack behind the tier's first answer, whatever its own
latency. Replication: each call goes out twice; the first answer wins and the
other one's device time is redundancy cost. Faults (straggler injection, tests and
benchmarks only) wrap member callers here too. No Ray imports at module level: unit tests
drive all of it with fake callers.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from cascade.redundancy import (
    FaultsConfig,
    PeerLag,
    RedundancyConfig,
    StragglerTimeout,
    ready_by_timeout_window_s,
)
from cost_model.record import MemberUsage
from serve_app.collage_batcher import CellAnswer, CollageBatcher
from serve_app.member_result import MemberResult
from serve_app.stats import LatencyRing

MemberCall = Callable[[], Awaitable[MemberResult]]
COLLAGE_MEMBER = "collage"


@dataclass
class RedundancyLedger:
    """What redundancy cost and did, since the ingress replica started (GET /v1/stats)."""

    kind: str
    gpu_class: str | None = None
    backup_calls: int = 0  # collages sent, or duplicate member calls
    backup_images: int = 0  # images in those collages (filled cells)
    device_seconds: float = 0.0  # extra device time: collages, or the losing replicas
    emulated: bool = False
    answers_from_backup: int = 0  # member slots answered by the collage
    straggler_timeouts: int = 0
    tier_slow_waits: int = 0  # timeouts waited out: no peer's call on the image had ended
    member_failures: int = 0
    backup_shed_images: int = 0  # images sent without a collage (max_inflight_collages)
    backup_skipped_images: int = 0  # images whose members all answered before the collage left
    faults: str | None = None
    delayed_calls: int = 0
    by_member: dict[str, int] = field(default_factory=dict)
    # the collage shield's timeout policy, read for its current values (not a counter)
    timeout: StragglerTimeout | None = field(default=None, repr=False, compare=False)
    # how far behind the tier's first answer each member answers (and the peer-lag rule)
    peer_lag: PeerLag | None = field(default=None, repr=False, compare=False)
    # and its batcher (the collage call's recent median, the window now)
    batcher: CollageBatcher | None = field(default=None, repr=False, compare=False)
    # per stand-in answer: how long after the member was declared a straggler its cell
    # was used (0 = the cell was already back; more = the cell, not the timeout, was late)
    cell_waits_ms: LatencyRing = field(default_factory=lambda: LatencyRing(256), repr=False,
                                       compare=False)

    def bill(self, device_seconds: float, emulated: bool) -> None:
        self.device_seconds += float(device_seconds)
        self.emulated = self.emulated or bool(emulated)

    def snapshot(self) -> dict:
        return {
            "kind": self.kind, "gpu_class": self.gpu_class, "backup_calls": self.backup_calls,
            "backup_images": self.backup_images, "device_seconds": self.device_seconds,
            "emulated": self.emulated, "answers_from_backup": self.answers_from_backup,
            "straggler_timeouts": self.straggler_timeouts,
            "tier_slow_waits": self.tier_slow_waits,
            "member_failures": self.member_failures,
            "backup_shed_images": self.backup_shed_images,
            "backup_skipped_images": self.backup_skipped_images, "faults": self.faults,
            "delayed_calls": self.delayed_calls, "answers_from_backup_by_member": self.by_member,
            "straggler_timeout_ms": self.timeout.current_ms() if self.timeout else None,
            "peer_lag_ms": self.peer_lag.snapshot() if self.peer_lag else None,
            "peer_lag_rule": bool(self.peer_lag and self.peer_lag.enabled),
            "collage_call_median_ms": _ms(self.batcher.call_median_s()) if self.batcher
            else None,
            "collage_window_ms": _ms(self.batcher.current_window_s()) if self.batcher
            else None,
            "cell_wait_ms": _p50_p90_max(self.cell_waits_ms),
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 1)


def _p50_p90_max(ring: LatencyRing) -> dict | None:
    """p50/p90/max of the ring's recent values (ms), None when it is empty."""
    if not len(ring):
        return None
    p50, p90, top = ring.percentiles((50, 90, 100))
    return {"count": len(ring), "p50": round(p50, 1), "p90": round(p90, 1),
            "max": round(top, 1)}


def _ok(task: asyncio.Future) -> bool:
    return task.done() and not task.cancelled() and task.exception() is None


class CollageShield:
    """Collage backup of one tier: the batcher, the straggler timeout and the ledger."""

    def __init__(
        self, tier: str, gpu_class: str, batcher: CollageBatcher, timeout: StragglerTimeout,
        ledger: RedundancyLedger, peer_lag: PeerLag | None = None,
    ) -> None:
        self.tier = tier
        self.gpu_class = gpu_class
        self.batcher = batcher
        self.timeout = timeout
        self.ledger = ledger
        self.peer_lag = peer_lag or PeerLag()

    def start(self, batch, members: int) -> CollageRound:
        return CollageRound(self, [self.batcher.submit(image) for image in batch], members)


class CollageRound:
    """One batch of one tier under collage protection."""

    def __init__(self, shield: CollageShield, cells: list[asyncio.Future], members: int
                 ) -> None:
        self.shield = shield
        self.cells = cells
        self.members = members  # the tier's members: each image has members - 1 peers
        self._answered = [asyncio.Event() for _ in cells]  # a member's call on it ended
        self._open = [members] * len(cells)  # member calls on each image not yet ended
        self._failed = [False] * len(cells)  # a call on it failed: its cell must stand in
        self._first_end: list[float | None] = [None] * len(cells)  # the first call to end
        self._first_member: list[int | None] = [None] * len(cells)  # ...and whose it was

    async def _until_it_or_a_peer_ends(self, task: asyncio.Future, r: int) -> None:
        """Wait for the member itself, or for any other member's call on image r to end."""
        peer = asyncio.ensure_future(self._answered[r].wait())
        try:
            await asyncio.wait({task, peer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            peer.cancel()

    def bill(self, add_usage: Callable[[int, MemberUsage], None]) -> None:
        """Charge each image its share of its collage once that answers."""
        for r, cell in enumerate(self.cells):
            cell.add_done_callback(lambda f, r=r: self._charge(f, r, add_usage))

    def _charge(self, cell: asyncio.Future, r: int, add_usage) -> None:
        if not _ok(cell):
            return
        answer: CellAnswer = cell.result()
        add_usage(r, MemberUsage(
            tier=self.shield.tier, member=COLLAGE_MEMBER, gpu_class=self.shield.gpu_class,
            device_seconds=answer.device_seconds, emulated=answer.emulated,
            cpu_seconds=answer.cpu_seconds, batch_size=answer.filled,
        ))

    async def protect(self, m: int, member: str, r: int, call: MemberCall) -> MemberResult:
        """The member's answer, or its image's collage cell if the member straggles/fails."""
        shield = self.shield
        limit_ms = shield.timeout.timeout_ms(member)
        slack_ms = shield.peer_lag.slack_ms(member) if self.members > 1 else None
        started = time.perf_counter()
        task = asyncio.ensure_future(call())
        task.add_done_callback(lambda t: self._call_ended(r, m, t))
        behind_peer = False
        try:
            if slack_ms is not None:  # the peer-lag rule: only the lag behind a peer counts
                limit_ms = slack_ms
                await self._until_it_or_a_peer_ends(task, r)
                if not task.done():
                    since_s = time.perf_counter() - (self._first_end[r] or started)
                    await asyncio.wait({task}, timeout=max(0.0, slack_ms / 1000.0 - since_s))
                    behind_peer = True
            else:
                await asyncio.wait({task}, timeout=limit_ms / 1000.0)
            if not task.done() and self.members > 1 and not self._answered[r].is_set():
                shield.ledger.tier_slow_waits += 1  # no call ended: load, not a straggler
                await self._until_it_or_a_peer_ends(task, r)
                if not task.done():  # a straggler only if this far behind its first peer
                    await asyncio.wait({task}, timeout=limit_ms / 1000.0)
                    behind_peer = True
            if _ok(task):
                self._observe(m, member, r, started)
                return task.result()
            if task.done():
                shield.ledger.member_failures += 1
                why = "failed"
            else:
                shield.ledger.straggler_timeouts += 1
                why = (f"{limit_ms:.0f} ms behind the tier's first answer" if behind_peer
                       else f"later than {limit_ms:.0f} ms")
            return await self._race(task, m, r, member, why, started)
        finally:
            if not task.done():
                task.cancel()

    def _observe(self, m: int, member: str, r: int, started: float) -> None:
        """An answer the member gave itself: its latency, and its lag behind the tier's
        first answer on the image (0 when it was the first)."""
        now = time.perf_counter()
        self.shield.timeout.observe(member, (now - started) * 1000.0)
        first = self._first_end[r]
        lag_s = 0.0 if first is None or self._first_member[r] == m else now - first
        self.shield.peer_lag.observe(member, lag_s * 1000.0)

    def _call_ended(self, r: int, m: int, task: asyncio.Future) -> None:
        """A member's call on image r ended: its peers learn of it, and once no call on r is
        open and none failed, r's unsent cell is not needed (CollageBatcher.withdraw)."""
        if not task.cancelled():
            if self._first_end[r] is None:
                self._first_end[r], self._first_member[r] = time.perf_counter(), m
            self._answered[r].set()
            self._failed[r] = self._failed[r] or task.exception() is not None
        self._open[r] -= 1
        if (self._open[r] == 0 and not self._failed[r]
                and self.shield.batcher.withdraw(self.cells[r])):
            self.shield.ledger.backup_skipped_images += 1

    async def _race(self, task, m: int, r: int, member: str, why: str, started: float
                    ) -> MemberResult:
        """After the timeout: whichever of the member and the collage cell answers first."""
        declared, cell = time.perf_counter(), self.cells[r]
        waiting = {f for f in (task, cell) if not f.done() or _ok(f)}
        while waiting:
            if _ok(task):  # late, but before the collage: a latency the timeout must learn
                self._observe(m, member, r, started)
                return task.result()
            if _ok(cell):
                answer: CellAnswer = cell.result()
                self.shield.ledger.answers_from_backup += 1
                self.shield.ledger.cell_waits_ms.add((time.perf_counter() - declared) * 1000.0)
                by = self.shield.ledger.by_member
                by[member] = by.get(member, 0) + 1
                return MemberResult(
                    probs=answer.probs, device_seconds=0.0, cpu_seconds=0.0,
                    batch_size=answer.filled, emulated=answer.emulated, source="collage",
                    note=f"{member} {why}: collage cell used",
                )
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            waiting = {f for f in waiting if not f.done() or _ok(f)}
        return task.result()  # both failed: the member's own error stands


class ReplicationShield:
    """Replication baseline: each protected call is sent twice, the first answer wins."""

    def __init__(self, ledger: RedundancyLedger) -> None:
        self.ledger = ledger

    def start(self, batch, members: int) -> ReplicationRound:
        return ReplicationRound(self.ledger)


class ReplicationRound:
    def __init__(self, ledger: RedundancyLedger) -> None:
        self.ledger = ledger

    def bill(self, add_usage) -> None:
        """The losing copy's device time goes to the ledger (it may answer after the image)."""

    async def protect(self, m: int, member: str, r: int, call: MemberCall) -> MemberResult:
        copies = [asyncio.ensure_future(call()), asyncio.ensure_future(call())]
        self.ledger.backup_calls += 1
        self.ledger.backup_images += 1
        try:
            waiting = set(copies)
            while waiting:
                done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                winner = next((t for t in copies if t in done and _ok(t)), None)
                if winner is not None:
                    for other in copies:
                        if other is not winner:
                            other.add_done_callback(self._bill_loser)
                    return winner.result()
            return copies[0].result()  # both failed
        except asyncio.CancelledError:
            for copy in copies:
                copy.cancel()
            raise

    def _bill_loser(self, task: asyncio.Future) -> None:
        if _ok(task):
            result: MemberResult = task.result()
            self.ledger.bill(result.device_seconds, result.emulated)


def delayed_caller(caller, faults: FaultsConfig, rng: random.Random, ledger: RedundancyLedger):
    """`caller`, but a `faults.fraction` of calls answer late (straggler injection)."""

    async def call(image: np.ndarray) -> MemberResult:
        started = time.perf_counter()
        result = await caller(image)
        if rng.random() < faults.fraction:
            ledger.delayed_calls += 1
            await asyncio.sleep(faults.extra_delay_s(time.perf_counter() - started))
        return result

    return call


def collage_shield(
    redundancy: RedundancyConfig, tier: str, call_collage, ledger: RedundancyLedger
) -> CollageShield:
    """A CollageShield over `call_collage(collage, filled) -> CollageAnswer`."""

    def on_collage(answer) -> None:
        ledger.backup_calls += 1
        ledger.backup_images += int(answer.filled)
        ledger.bill(answer.device_seconds, answer.emulated)

    def on_shed(images: int) -> None:
        ledger.backup_shed_images += images

    timeout = StragglerTimeout.from_config(redundancy)
    peer_lag = PeerLag.from_config(redundancy)
    window_for = None
    if redundancy.ready_by_timeout:
        def window_for(call_s: float | None) -> float:
            declared_ms = None
            if peer_lag.enabled:  # per window, on the request path: medians only if used
                declared_ms = peer_lag.earliest_declaration_ms(timeout.median_ms())
            if declared_ms is None:
                declared_ms = timeout.earliest_ms()
            return ready_by_timeout_window_s(
                redundancy.window_ms / 1000.0, declared_ms / 1000.0, call_s,
                redundancy.min_window_ms / 1000.0)

    batcher = CollageBatcher(
        call_collage, redundancy.grid, redundancy.window_ms / 1000.0, on_collage=on_collage,
        max_inflight=redundancy.max_inflight_collages, on_shed=on_shed, window_for=window_for,
        only_waiting=redundancy.skip_answered,
    )
    ledger.timeout, ledger.batcher, ledger.peer_lag = timeout, batcher, peer_lag
    return CollageShield(tier, redundancy.gpu_class or "", batcher, timeout, ledger, peer_lag)


def attach_redundancy(config, plans: list, collage_call=None) -> tuple[list, RedundancyLedger]:
    """`plans` with faults wrapped around member callers and the protected tier shielded.

    `collage_call(collage, filled)` reaches the collage deployment (kind collage only).
    The ledger exists even without redundancy, to report injected faults.
    """
    import dataclasses

    spec: RedundancyConfig | None = config.redundancy
    ledger = RedundancyLedger(
        kind=spec.kind if spec else "none",
        gpu_class=spec.gpu_class if spec and spec.kind == "collage" else None,
        faults=config.faults.describe() if config.faults else None,
    )
    out = []
    for plan in plans:
        if config.faults and (not config.faults.tiers or plan.name in config.faults.tiers):
            rng = random.Random(f"{config.faults.seed}-{plan.name}")
            callers = tuple(delayed_caller(c, config.faults, rng, ledger) for c in plan.callers)
            plan = dataclasses.replace(plan, callers=callers)
        if spec is not None and plan.index == spec.tier:
            if spec.kind == "collage":
                if collage_call is None:
                    raise ValueError("redundancy kind collage needs the collage deployment")
                shield = collage_shield(spec, plan.name, collage_call, ledger)
            else:
                shield = ReplicationShield(ledger)
            plan = dataclasses.replace(plan, redundancy=shield)
        out.append(plan)
    return out, ledger

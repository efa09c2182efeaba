"""The cascade runner: the tier loop as plain async code over "member callers".

A member caller is any `async (image_uint8_hwc) -> MemberResult`. The ingress wires Ray
deployment handles into it; unit tests pass fakes. The exit decision itself is always
`cascade.policies.decide_tier` (the function the planner uses too), so the server does
what the plan predicted.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cascade.learned import Scheduler, TierFeatures
from cascade.policies import (
    decide_tier,
    decision_features,
    mean_probs,
    outcome_decided,
    quorum,
)
from cost_model.record import CostRecord, MemberUsage, record_from_usage
from serve_app.member_result import MemberResult

MemberCaller = Callable[[np.ndarray], Awaitable[MemberResult]]


@dataclass(frozen=True)
class TierPlan:
    """A tier ready to run: its policy and one caller per member (built once, reused)."""

    name: str
    index: int
    gpu_class: str
    policy: str
    threshold: float
    combine: str
    members: tuple[str, ...]
    callers: tuple[MemberCaller, ...]
    scheduler: Scheduler | None = None  # learned policy only
    redundancy: Any = None  # a serve_app.redundancy shield: collage backup or replication
    min_members: int | None = None  # quorum; None: cascade.policies.default_quorum

    @property
    def quorum(self) -> int:
        return quorum(self.policy, self.threshold, len(self.members), self.min_members)

    def __post_init__(self) -> None:
        if not self.members or len(self.members) != len(self.callers):
            raise ValueError(f"tier {self.name!r}: need one caller per member")


def _doc(text: str) -> dict[str, str]:
    """Field metadata pydantic reads as the field's description in the HTTP schema."""
    return {"description": text}


@dataclass
class TierTrace:
    """What one tier did for one image.

    The one definition of the trace: the HTTP schema (serve_app.schemas.Prediction) uses
    this dataclass as it is, so the runner stays free of pydantic models.
    """

    tier: str
    index: int
    votes: dict[str, int | None] = field(
        metadata=_doc("member -> voted (argmax) label; null if it did not answer"))
    label: int | None
    confidence: float | None
    agreement: float | None
    decision: Literal["exit", "escalate", "failed"]
    policy_met: bool
    missing: list[str] = field(
        default_factory=list, metadata=_doc("members that failed or were cancelled"))
    failed: dict[str, str] = field(default_factory=dict, metadata=_doc("member -> reason"))
    cancelled: list[str] = field(
        default_factory=list, metadata=_doc("members stopped once the outcome was fixed"))
    site: Literal["cloud", "edge"] = field(
        default="cloud", metadata=_doc("where the tier ran: edge = the client's own votes"))
    collage: list[str] = field(
        default_factory=list,
        metadata=_doc("members that straggled or failed; their votes are collage cells"))
    quorum_met: bool = field(
        default=True, metadata=_doc("enough members answered for this tier to exit"))


@dataclass
class ImageOutcome:
    """The cascade's answer for one image (label None only when `error` is set)."""

    label: int | None
    confidence: float | None
    exit_tier: str | None
    exit_index: int | None
    tiers: list[TierTrace]
    latency_ms: float
    cost: CostRecord
    degraded: bool = False
    reasons: list[str] = field(default_factory=list)
    error: str | None = None
    deadline_expired: bool = False  # the request's deadline cut the cascade short
    # the answering tier's mean class probabilities over its members that answered
    probabilities: np.ndarray | None = None
    source: Literal["members", "collage"] = "members"  # "collage": a vote came from it


def below_quorum(tier: TierPlan, answered: int, is_last: bool) -> str:
    """The reason an image carries when its tier lacked a quorum."""
    what = "answered anyway (last tier)" if is_last else "escalated"
    return (f"tier {tier.name}: {answered} of {len(tier.members)} members answered, below "
            f"its quorum of {tier.quorum}; {what}")


class DeadlineExpired(Exception):
    """Raised inside the runner when a tier is cut off by the request's deadline."""


def parent_cancelled(exc: BaseException | None) -> bool:
    """True when Serve cancelled a member call because the request itself was cancelled.

    Serve cancels child calls of a cancelled request (client gone) from its own loop, so
    the member's failure can reach the runner before the request's own CancelledError:
    treating it as a member failure would answer a client that has left.
    """
    if exc is None:
        return False
    names = {kind.__name__ for kind in type(exc).__mro__}
    return bool(names & {"RequestCancelledError", "TaskCancelledError"})


def describe_failure(exc: BaseException) -> str:
    """A short, single-line reason for a failed member call."""
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timed out"
    if type(exc).__name__ == "BackPressureError":  # Serve: the member's queue is full
        return "queue full (BackPressureError)"
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:300]


class CascadeRunner:
    """Runs a batch of decoded images through the tiers; only undecided images go on."""

    def __init__(
        self,
        tiers: Sequence[TierPlan],
        num_classes: int,
        price_per_second: dict[str, float],
        member_timeout_s: float = 30.0,
        on_waste: Callable[[str, float], None] | None = None,
        on_member_call: Callable[[str, str, MemberResult], None] | None = None,
    ) -> None:
        """`on_waste(gpu_class, device_seconds)` hears of device time that ran but whose
        result was not used (serve_app.waste); it is billed apart from the answers.
        `on_member_call(tier, member, result)` hears of every member answer (its timing
        stamps: serve_app.call_anatomy)."""
        if not tiers:
            raise ValueError("a cascade needs at least one tier")
        if [t.index for t in tiers] != list(range(len(tiers))):
            raise ValueError("tier indices must be 0, 1, ... in cascade order")
        self.tiers = tuple(tiers)
        self.num_classes = num_classes
        self.price_per_second = dict(price_per_second)
        self.member_timeout_s = member_timeout_s
        self.on_waste = on_waste
        self.on_member_call = on_member_call
        self._stopping: set[asyncio.Task] = set()  # cancelled calls, kept until they finish

    async def run(
        self,
        images: Sequence[np.ndarray],
        deadline_s: float | None = None,
        started: float | None = None,
        start_tier: int = 0,
    ) -> list[ImageOutcome]:
        """Outcomes of `images`; `deadline_s` (seconds from `started`, a perf_counter
        time, default now: when the request arrived) cuts the cascade short.
        `start_tier` > 0: an edge client ran the tiers before it; only the rest run (and
        are billed).

        On expiry the open member calls are cancelled (the Serve requests with them) and
        every undecided image keeps the decision of the last tier that completed for it,
        flagged `deadline_expired` and degraded; with no completed tier, label is None.
        """
        start = time.perf_counter()
        origin = start if started is None else started
        deadline = None if deadline_s is None else origin + max(deadline_s, 0.0)
        n = len(images)
        traces: list[list[TierTrace]] = [[] for _ in range(n)]
        usages: list[list[MemberUsage]] = [[] for _ in range(n)]
        reasons: list[list[str]] = [[] for _ in range(n)]
        # image -> (label, confidence, answering tier, latency_ms, error)
        finished: dict[int, tuple] = {}
        last_decision: dict[int, tuple[int, float, TierPlan]] = {}
        answer_probs: dict[int, np.ndarray] = {}  # of the tier whose decision is kept
        remaining = list(range(n))
        history: list[list[TierFeatures | None]] = [[] for _ in range(n)]  # learned policy

        for tier in self.tiers[start_tier:]:
            if not remaining:
                break
            is_last = tier.index == len(self.tiers) - 1
            try:
                probs, present, failed, cancelled, backup = await self._run_tier(
                    tier, [images[i] for i in remaining], is_last, usages, remaining, deadline
                )
            except DeadlineExpired:
                now_ms = (time.perf_counter() - start) * 1000.0
                self._expire(tier, remaining, deadline_s, last_decision, reasons, finished, now_ms)
                remaining = []
                break
            decision = decide_tier(
                probs, tier.policy, tier.threshold, tier.combine, present, tier.min_members,
                scheduler=tier.scheduler, history=_history_of(history, remaining),
            )
            if any(t.policy == "learned" for t in self.tiers[tier.index + 1:]):
                features = decision_features(probs, decision, present)
                for r, i in enumerate(remaining):
                    history[i].append(features.take([r]))
            answered = present.sum(axis=0)
            tier_probs = mean_probs(probs, present)
            now_ms = (time.perf_counter() - start) * 1000.0
            still: list[int] = []
            for r, i in enumerate(remaining):
                trace = self._trace(tier, r, decision, present, failed, cancelled, is_last)
                trace.collage = [tier.members[m] for m in range(len(tier.members))
                                 if (m, r) in backup]
                traces[i].append(trace)
                reasons[i].extend(f"tier {tier.name}: {backup[(m, r)]}"
                                  for m in range(len(tier.members)) if (m, r) in backup)
                if trace.failed:
                    detail = ", ".join(f"{m}: {why}" for m, why in trace.failed.items())
                    reasons[i].append(f"tier {tier.name}: member(s) failed ({detail})")
                if answered[r] == 0:
                    reasons[i].append(f"tier {tier.name}: no member answered")
                    if not is_last:
                        still.append(i)
                    elif i in last_decision:
                        label, conf, src = last_decision[i]
                        reasons[i].append(f"answered with tier {src.name}'s decision")
                        finished[i] = (label, conf, src, now_ms, None)
                    else:
                        finished[i] = (None, None, None, now_ms, "no tier could answer")
                    continue
                label, conf = int(decision.labels[r]), float(decision.confidence[r])
                answer_probs[i] = tier_probs[r].astype(np.float32)
                if answered[r] + len(trace.cancelled) < tier.quorum:  # short by failures
                    trace.quorum_met = False
                    reasons[i].append(below_quorum(tier, int(answered[r]), is_last))
                if is_last or decision.exits[r]:
                    finished[i] = (label, conf, tier, now_ms, None)
                else:
                    last_decision[i] = (label, conf, tier)
                    still.append(i)
            remaining = still

        outcomes = []
        for i in range(n):
            label, conf, tier, latency_ms, error = finished[i]
            expired = error == "deadline_exceeded" or any(
                r.startswith("deadline") for r in reasons[i]
            )
            outcomes.append(
                ImageOutcome(
                    label=label,
                    confidence=conf,
                    exit_tier=tier.name if tier else None,
                    exit_index=tier.index if tier else None,
                    tiers=traces[i],
                    latency_ms=latency_ms,
                    cost=record_from_usage(usages[i], self.price_per_second),
                    degraded=bool(reasons[i]),
                    reasons=reasons[i],
                    error=error,
                    deadline_expired=expired,
                    probabilities=answer_probs.get(i) if label is not None else None,
                    source="collage" if any(t.collage for t in traces[i]) else "members",
                )
            )
        return outcomes

    @staticmethod
    def _expire(tier, remaining, deadline_s, last_decision, reasons, finished, now_ms) -> None:
        """Finish the images still open when the deadline hit during `tier`."""
        for i in remaining:
            why = f"deadline of {deadline_s * 1000.0:.0f} ms expired during tier {tier.name}"
            if i in last_decision:
                label, conf, src = last_decision[i]
                reasons[i].append(f"{why}; answered with tier {src.name}'s decision")
                finished[i] = (label, conf, src, now_ms, None)
            else:
                reasons[i].append(f"{why}; no tier had completed")
                finished[i] = (None, None, None, now_ms, "deadline_exceeded")

    async def _run_tier(self, tier, batch, is_last, usages, remaining, deadline=None):
        """Call every member for every image of `batch` in parallel; stop early when fixed.

        Raises DeadlineExpired (after cancelling every open call) if `deadline` passes.
        """
        m_count, r_count = len(tier.members), len(batch)
        probs = np.zeros((m_count, r_count, self.num_classes), dtype=np.float32)
        present = np.zeros((m_count, r_count), dtype=bool)
        failed: dict[tuple[int, int], str] = {}
        cancelled: set[tuple[int, int]] = set()
        backup: dict[tuple[int, int], str] = {}  # (m, r) -> why a collage cell stood in
        where: dict[asyncio.Task, tuple[int, int]] = {}
        guard = (tier.redundancy.start(batch, m_count) if tier.redundancy is not None
                 else None)
        if guard is not None:
            guard.bill(lambda r, usage: usages[remaining[r]].append(usage))
        for m, caller in enumerate(tier.callers):
            for r, image in enumerate(batch):
                call = self._call(caller, image) if guard is None else guard.protect(
                    m, tier.members[m], r, functools.partial(self._call, caller, image))
                where[asyncio.ensure_future(call)] = (m, r)
        open_calls = np.full(r_count, m_count)
        pending = set(where)
        try:
            while pending:
                timeout = None if deadline is None else deadline - time.perf_counter()
                if timeout is not None and timeout <= 0:
                    raise DeadlineExpired(tier.name)
                done, pending = await asyncio.wait(
                    pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    raise DeadlineExpired(tier.name)
                for task in done:
                    m, r = where[task]
                    open_calls[r] -= 1
                    self._collect(task, tier, m, r, probs, present, failed, usages[remaining[r]])
                    if present[m, r] and task.result().source == "collage":
                        backup[(m, r)] = task.result().note
                if pending and not is_last and m_count > 1:
                    pending = self._cancel_decided(
                        tier, probs, present, open_calls, pending, where, cancelled
                    )
        except BaseException:
            for task in pending:  # stop the work: each caller cancels its Serve request
                task.cancel()
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)
            raise
        return probs, present, failed, cancelled, backup

    def _collect(self, task, tier, m, r, probs, present, failed, usage_list) -> None:
        # The runner drops the calls it cancels from `pending`; any other cancel is Serve
        # cancelling the request's child calls because the request itself is cancelled.
        if task.cancelled():
            raise asyncio.CancelledError("the request was cancelled")
        exc = task.exception()
        if parent_cancelled(exc):
            raise asyncio.CancelledError("the request was cancelled") from exc
        if exc is not None:
            failed[(m, r)] = describe_failure(exc)
            return
        result: MemberResult = task.result()
        wasted = float(getattr(result, "wasted_device_seconds", 0.0))
        row = np.asarray(result.probs, dtype=np.float32).reshape(-1)
        if row.shape[0] != self.num_classes:
            failed[(m, r)] = f"returned {row.shape[0]} classes, expected {self.num_classes}"
            self._waste(tier.gpu_class, wasted + float(result.device_seconds))
            return
        self._waste(tier.gpu_class, wasted)
        probs[m, r] = row
        present[m, r] = True
        if result.source == "collage":
            return  # the collage's device time is billed by the shield, once per image
        if self.on_member_call is not None:
            self.on_member_call(tier.name, tier.members[m], result)
        usage_list.append(
            MemberUsage(
                tier=tier.name,
                member=tier.members[m],
                gpu_class=tier.gpu_class,
                device_seconds=float(result.device_seconds),
                emulated=bool(result.emulated),
                cpu_seconds=float(result.cpu_seconds),
                batch_size=int(result.batch_size),
                billed_class_mismatch=bool(getattr(result, "billed_class_mismatch", False)),
            )
        )

    def _waste(self, gpu_class: str, seconds: float) -> None:
        if seconds > 0 and self.on_waste is not None:
            self.on_waste(gpu_class, seconds)

    def _cancel_decided(self, tier, probs, present, open_calls, pending, where, cancelled):
        """Cancel the open calls of images whose exit decision can no longer change."""
        waiting = open_calls > 0
        decided = outcome_decided(probs, present, len(tier.members), tier.policy, tier.threshold)
        decided &= waiting
        if not decided.any():
            return pending
        keep = set()
        for task in pending:
            m, r = where[task]
            if decided[r]:
                task.cancel()
                cancelled.add((m, r))
                open_calls[r] -= 1
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)
            else:
                keep.add(task)
        return keep

    async def _call(self, caller: MemberCaller, image: np.ndarray) -> MemberResult:
        return await asyncio.wait_for(caller(image), timeout=self.member_timeout_s)

    @staticmethod
    def _trace(tier, r, decision, present, failed, cancelled, is_last) -> TierTrace:
        votes: dict[str, int | None] = {}
        failed_here: dict[str, str] = {}
        cancelled_here: list[str] = []
        for m, member in enumerate(tier.members):
            votes[member] = int(decision.votes[m, r]) if present[m, r] else None
            if (m, r) in cancelled:
                cancelled_here.append(member)
            elif (m, r) in failed:
                failed_here[member] = failed[(m, r)]
        missing = [member for member, vote in votes.items() if vote is None]
        any_present = bool(present[:, r].any())
        exits = bool(decision.exits[r])
        return TierTrace(
            tier=tier.name,
            index=tier.index,
            votes=votes,
            label=int(decision.labels[r]) if any_present else None,
            confidence=float(decision.confidence[r]) if any_present else None,
            agreement=float(decision.agreement[r]) if any_present else None,
            decision="failed" if not any_present else ("exit" if exits or is_last else "escalate"),
            policy_met=exits,
            missing=missing,
            failed=failed_here,
            cancelled=cancelled_here,
        )


def _history_of(history: list[list], remaining: list[int]) -> list[TierFeatures]:
    """Earlier tiers' features of the `remaining` images, stacked per tier."""
    if not remaining or not history[remaining[0]]:
        return []
    depth = len(history[remaining[0]])
    return [
        TierFeatures(
            np.concatenate([history[i][j].values for i in remaining]),
            np.concatenate([history[i][j].labels for i in remaining]),
        )
        for j in range(depth)
    ]


def build_tier_plans(config, make_caller: Callable[[str], MemberCaller]) -> list[TierPlan]:
    """TierPlans of a `CascadeConfig`; `make_caller(deployment_name)` gives each member's caller."""
    plans = []
    for index, tier in enumerate(config.tiers):
        plans.append(
            TierPlan(
                name=tier.name,
                index=index,
                gpu_class=tier.gpu_class,
                policy=tier.exit_policy.kind,
                threshold=tier.exit_policy.threshold,
                combine=tier.combine,
                members=tuple(m.member_name for m in tier.members),
                callers=tuple(make_caller(config.deployment_name(tier, m)) for m in tier.members),
                scheduler=tier.exit_policy.scheduler.build() if tier.exit_policy.scheduler
                else None,
                min_members=tier.exit_policy.min_members,
            )
        )
    return plans

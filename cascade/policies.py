"""Combine rules and exit policies: plain vectorised numpy, no Ray.

The live cascade runner and the offline planner call exactly these functions, so
that a plan's predicted accuracy and cost are what the server then does.

Shapes: a tier's member outputs are `probs[m, n, c]` (members x images x classes).
Missing members (failed or cancelled) are marked with `present[m, n] == False`;
their rows are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cascade.learned import Scheduler, TierFeatures, learned_exits, tier_features

ExitPolicyName = Literal["agreement", "confidence", "learned"]
CombineName = Literal["vote", "mean"]


@dataclass(frozen=True)
class TierDecision:
    """Per-image outcome of one tier."""

    labels: np.ndarray  # (n,) int64 combined label
    confidence: np.ndarray  # (n,) float: mean probability of the chosen label
    agreement: np.ndarray  # (n,) float: fraction of present members voting the plurality label
    exits: np.ndarray  # (n,) bool: accept this tier's answer
    votes: np.ndarray  # (m, n) int64 per-member argmax, -1 where the member is missing
    features: TierFeatures | None = None  # learned policy: this tier's own features


def _present_mask(probs: np.ndarray, present: np.ndarray | None) -> np.ndarray:
    if present is None:
        return np.ones(probs.shape[:2], dtype=bool)
    return np.asarray(present, dtype=bool)


def member_votes(probs: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """Each member's argmax label, -1 where the member did not answer."""
    mask = _present_mask(probs, present)
    votes = probs.argmax(axis=2).astype(np.int64)
    return np.where(mask, votes, -1)


def mean_probs(probs: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """Mean class distribution over the members that answered, shape (n, c)."""
    mask = _present_mask(probs, present)
    weights = mask[:, :, None].astype(probs.dtype)
    count = np.maximum(weights.sum(axis=0), 1.0)
    return (probs * weights).sum(axis=0) / count


def vote_counts(votes: np.ndarray, num_classes: int) -> np.ndarray:
    """Votes per class, shape (n, c), ignoring missing members (-1)."""
    m, n = votes.shape
    counts = np.zeros((n, num_classes), dtype=np.int64)
    cols = np.broadcast_to(np.arange(n), (m, n))
    valid = votes >= 0
    np.add.at(counts, (cols[valid], votes[valid]), 1)
    return counts


def combine(
    probs: np.ndarray, rule: CombineName = "vote", present: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One label per image and its mean probability.

    `vote`: plurality of member argmaxes, ties broken by the higher mean probability.
    `mean`: argmax of the mean probability.
    """
    avg = mean_probs(probs, present)
    if rule == "mean":
        labels = avg.argmax(axis=1)
    elif rule == "vote":
        counts = vote_counts(member_votes(probs, present), probs.shape[2])
        top = counts.max(axis=1, keepdims=True)
        tied = counts == top
        # Among the tied plurality labels take the one with the highest mean probability.
        labels = np.where(tied, avg, -np.inf).argmax(axis=1)
    else:
        raise ValueError(f"unknown combine rule {rule!r}; expected 'vote' or 'mean'")
    confidence = avg[np.arange(avg.shape[0]), labels]
    return labels.astype(np.int64), confidence


def agreement_fraction(probs: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """Fraction of the members that answered which vote for the plurality label."""
    votes = member_votes(probs, present)
    counts = vote_counts(votes, probs.shape[2])
    answered = np.maximum((votes >= 0).sum(axis=0), 1)
    return counts.max(axis=1) / answered


def default_quorum(policy: ExitPolicyName, threshold: float, members: int) -> int:
    """How many of a tier's `members` must answer before it may exit, by default.

    `agreement` tau: ceil(tau*M) (every member at tau = 1.0): the agreement the plan
    measured over M votes cannot be claimed from fewer. `confidence`: every member (M),
    because the threshold was calibrated on the mean of all M members' probabilities; a
    mean over fewer models is a different, over-confident estimator. `learned`: every
    member too (its scheduler was trained on features of all M members).
    """
    if policy == "agreement":
        return max(1, min(members, math.ceil(threshold * members - 1e-9)))
    return members


def quorum(
    policy: ExitPolicyName, threshold: float, members: int, min_members: int | None
) -> int:
    """The configured quorum, else `default_quorum`, capped at `members`."""
    chosen = default_quorum(policy, threshold, members) if min_members is None else min_members
    return max(1, min(members, chosen))


def decide_tier(
    probs: np.ndarray,
    policy: ExitPolicyName,
    threshold: float,
    combine_rule: CombineName = "vote",
    present: np.ndarray | None = None,
    min_members: int | None = None,
    scheduler: Scheduler | None = None,
    history: Sequence[TierFeatures] = (),
) -> TierDecision:
    """Combine a tier's members and apply its exit policy to every image at once.

    `agreement`: exit when the fraction voting the plurality label >= threshold.
    `confidence`: exit when the max of the members' mean probability >= threshold.
    `learned`: exit when `scheduler` scores this tier's features and `history` (the
    earlier tiers' features of the same images) at >= threshold (cascade.learned).
    Images with fewer answers than the quorum (`min_members`, default `default_quorum`)
    never exit: they escalate (the runner marks them degraded at the last tier).
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 3:
        raise ValueError(f"probs must be (members, images, classes), got shape {probs.shape}")
    mask = _present_mask(probs, present)
    labels, confidence = combine(probs, combine_rule, mask)
    agreement = agreement_fraction(probs, mask)
    votes = member_votes(probs, mask)
    features = None
    if policy == "agreement":
        exits = agreement >= threshold - 1e-12
    elif policy == "confidence":
        exits = mean_probs(probs, mask).max(axis=1) >= threshold
    elif policy == "learned":
        features = tier_features(mean_probs(probs, mask), votes, agreement, labels)
        exits = learned_exits(features, history, scheduler, threshold)
    else:
        raise ValueError(
            f"unknown exit policy {policy!r}; expected 'agreement', 'confidence' or 'learned'"
        )
    exits &= mask.sum(axis=0) >= quorum(policy, threshold, probs.shape[0], min_members)
    return TierDecision(labels, confidence, agreement, exits, votes, features)


def decision_features(
    probs: np.ndarray, decision: TierDecision, present: np.ndarray | None = None
) -> TierFeatures:
    """A decided tier's features, as a later learned tier reads them (its `history`)."""
    if decision.features is not None:
        return decision.features
    probs = np.asarray(probs, dtype=np.float64)
    avg = mean_probs(probs, _present_mask(probs, present))
    return tier_features(avg, decision.votes, decision.agreement, decision.labels)


def outcome_decided(
    partial_probs: np.ndarray,
    partial_present: np.ndarray,
    total_members: int,
    policy: ExitPolicyName,
    threshold: float,
) -> np.ndarray:
    """Per image: is the exit decision already fixed whatever the missing members say?

    Used by the runner to stop waiting for (and cancel) the rest of a tier. Only the
    agreement rule can be settled early: with `k` answers out of `M`, the best
    possible final agreement is (max_count + (M - answered)) / M.
    """
    if policy != "agreement":
        return np.zeros(partial_probs.shape[1], dtype=bool)
    votes = member_votes(partial_probs, partial_present)
    counts = vote_counts(votes, partial_probs.shape[2])
    answered = (votes >= 0).sum(axis=0)
    best_possible = (counts.max(axis=1) + (total_members - answered)) / total_members
    return best_possible < threshold - 1e-12

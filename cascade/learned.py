"""The `learned` exit policy (EENet): features of a tier's outputs and a tiny scheduler.

Plain numpy, no torch and no Ray: the live runner and the offline planner both reach it
through `cascade.policies.decide_tier`, so a learned plan's predicted exits are what the
server does. Training lives in planner.learned_train; this module only evaluates.

A tier's scheduler sees the features of that tier AND of every earlier tier for the same
image (an image only reaches tier t after tiers 0..t-1 ran on it). Its output is a logit
that "this tier's answer is right"; the image exits when the logit >= logit(threshold).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Per-tier features that do not depend on the members' names, in this order.
BASE_FEATURES = ("max_prob", "margin", "entropy", "agreement")


def member_key(spec: str) -> str:
    """The name a member has in a config (MemberConfig.member_name with no explicit name)."""
    return spec.replace(":", "-").replace("/", "-")


def tier_feature_names(index: int, members: Sequence[str]) -> list[str]:
    """Names of tier `index`'s own features: the base ones, then one vote per member."""
    names = [f"t{index}.{name}" for name in BASE_FEATURES]
    return names + [f"t{index}.vote.{member}" for member in members]


def scheduler_feature_names(tier_members: Sequence[Sequence[str]]) -> list[str]:
    """What the scheduler of the LAST tier of `tier_members` reads, in order.

    Its own features, then for every earlier tier j: tier j's features and `t{j}.same_label`
    (does tier j's answer equal this tier's?).
    """
    index = len(tier_members) - 1
    names = tier_feature_names(index, tier_members[index])
    for j in range(index):
        names += tier_feature_names(j, tier_members[j]) + [f"t{j}.same_label"]
    return names


@dataclass(frozen=True)
class TierFeatures:
    """A tier's own features for a batch of images, and its combined labels."""

    values: np.ndarray  # (n, 4 + members) float64
    labels: np.ndarray  # (n,) int64

    def take(self, index: np.ndarray | Sequence[int]) -> TierFeatures:
        index = np.asarray(index, dtype=np.int64)
        return TierFeatures(self.values[index], self.labels[index])


def tier_features(
    avg: np.ndarray, votes: np.ndarray, agreement: np.ndarray, labels: np.ndarray
) -> TierFeatures:
    """Features from a tier's combined outputs.

    `avg` (n, c) mean probability over the members that answered; `votes` (m, n) member
    argmax, -1 where missing (a missing member's vote feature is 0, as a dissenting one);
    `agreement` (n,); `labels` (n,) the tier's combined label.
    """
    avg = np.asarray(avg, dtype=np.float64)
    num_classes = avg.shape[1]
    ordered = np.sort(avg, axis=1)
    top1 = ordered[:, -1]
    margin = top1 - ordered[:, -2] if num_classes > 1 else top1
    safe = np.clip(avg, 1e-12, 1.0)
    entropy = -(avg * np.log(safe)).sum(axis=1) / np.log(max(num_classes, 2))
    voted = (np.asarray(votes) == np.asarray(labels)[None, :]).astype(np.float64)
    values = np.column_stack([top1, margin, entropy, np.asarray(agreement, np.float64), voted.T])
    return TierFeatures(values, np.asarray(labels, dtype=np.int64))


def scheduler_inputs(own: TierFeatures, history: Sequence[TierFeatures]) -> np.ndarray:
    """The scheduler's input matrix, in `scheduler_feature_names` order."""
    parts = [own.values]
    for earlier in history:
        same = (earlier.labels == own.labels).astype(np.float64)[:, None]
        parts += [earlier.values, same]
    return np.concatenate(parts, axis=1)


@dataclass(frozen=True)
class Scheduler:
    """A tiny MLP (one layer = logistic regression) scoring "this tier's answer is right".

    weights[i] has shape (out_i, in_i); ReLU between layers; the last layer has one output,
    a logit. Input standardisation is folded into the first layer by the trainer.
    """

    features: tuple[str, ...]
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        check_layers(len(self.features), [w.shape for w in self.weights],
                     [b.shape for b in self.biases])

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        h = np.asarray(inputs, dtype=np.float64)
        if h.ndim != 2 or h.shape[1] != len(self.features):
            raise ValueError(
                f"scheduler expects {len(self.features)} features per image, got shape {h.shape}"
            )
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w.T + b
            if i < last:
                h = np.maximum(h, 0.0)
        return h[:, 0]

    def to_dict(self) -> dict:
        """The inline form of a config's `scheduler` (lists of floats)."""
        return {
            "features": list(self.features),
            "layers": [
                {"weight": w.tolist(), "bias": b.tolist()}
                for w, b in zip(self.weights, self.biases, strict=True)
            ],
        }

    @classmethod
    def from_dict(cls, raw: dict) -> Scheduler:
        return cls(
            features=tuple(raw["features"]),
            weights=tuple(np.asarray(layer["weight"], dtype=np.float64) for layer in raw["layers"]),
            biases=tuple(np.asarray(layer["bias"], dtype=np.float64) for layer in raw["layers"]),
        )


def check_layers(n_features: int, weight_shapes: Sequence, bias_shapes: Sequence) -> None:
    """Raise ValueError unless the layers chain from `n_features` inputs to one logit."""
    if not weight_shapes:
        raise ValueError("a scheduler needs at least one layer")
    if len(weight_shapes) != len(bias_shapes):
        raise ValueError("every layer needs a weight and a bias")
    width = n_features
    for i, (w, b) in enumerate(zip(weight_shapes, bias_shapes, strict=True)):
        if len(w) != 2 or w[1] != width:
            raise ValueError(f"layer {i}: weight shape {tuple(w)}, expected (out, {width})")
        if tuple(b) != (w[0],):
            raise ValueError(f"layer {i}: bias shape {tuple(b)}, expected ({w[0]},)")
        width = w[0]
    if width != 1:
        raise ValueError(f"the last layer must have 1 output (a logit), got {width}")


def logit(p: float) -> float:
    """logit(0) = -inf (always exit), logit(1) = +inf (never exit)."""
    if p <= 0.0:
        return -np.inf
    if p >= 1.0:
        return np.inf
    return float(np.log(p) - np.log1p(-p))


def sigmoid(z: float) -> float:
    return float(1.0 / (1.0 + np.exp(-z)))


def shifted_threshold(threshold: float, offset: float) -> float:
    """`threshold` moved by `offset` logits (the budget keeper's nudge), still in [0, 1]."""
    if threshold <= 0.0 or threshold >= 1.0 or offset == 0.0:
        return threshold
    return sigmoid(logit(threshold) + offset)


def learned_exits(
    own: TierFeatures,
    history: Sequence[TierFeatures],
    scheduler: Scheduler | None,
    threshold: float,
) -> np.ndarray:
    """Exit where the scheduler's logit >= logit(threshold).

    Without a scheduler only threshold 0 is meaningful (the last tier: always answers).
    """
    n = own.values.shape[0]
    if scheduler is None:
        if threshold > 0.0:
            raise ValueError("a learned exit policy with threshold > 0 needs a scheduler")
        return np.ones(n, dtype=bool)
    if n == 0:
        return np.zeros(0, dtype=bool)
    return scheduler.logits(scheduler_inputs(own, history)) >= logit(threshold)

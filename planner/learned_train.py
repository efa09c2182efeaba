"""Train the learned exit policy's schedulers offline with torch (EENet, arXiv 2301.07099).

Given a cascade's tiers (fixed members) and their cached probabilities on the calibration
split, one tiny scorer per non-last tier is fitted jointly. With q_t the score of tier t,
an image reaches tier t with r_t = prod_{j<t} (1 - q_j) and exits there with
p_t = r_t q_t (the last tier takes the rest). The loss is EENet's:

- correctness: sum_t p_t * CE(tier t's mean probability, true label), plus a BCE of q_t
  towards "tier t's answer is right" (what the score is meant to say);
- distillation towards the final tier: sum_t p_t * KL(final tier || tier t);
- budget: |E[cost] - B| / B with E[cost] = mean over images of sum_t r_t * cost_t.

Only the scores are learned; thresholds are assigned afterwards (planner.learned_budget).
Input standardisation is folded into the first layer, so inference is plain numpy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cascade.learned import (
    Scheduler,
    TierFeatures,
    member_key,
    scheduler_feature_names,
    scheduler_inputs,
)
from cascade.policies import decide_tier, decision_features, mean_probs


@dataclass(frozen=True)
class TrainSettings:
    hidden: int = 0  # 0: logistic regression; >0: one hidden ReLU layer of this width
    epochs: int = 200
    lr: float = 0.05
    weight_decay: float = 1e-4
    distill_weight: float = 0.5
    budget_weight: float = 1.0
    bce_weight: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class CascadeData:
    """Everything training needs about one cascade on one split."""

    inputs: list[np.ndarray]  # per non-last tier: (n, features) scheduler inputs
    feature_names: list[list[str]]
    correct: np.ndarray  # (T, n) tier t's combined answer is right
    log_true: np.ndarray  # (T, n) log of tier t's mean probability of the true label
    kl_final: np.ndarray  # (T, n) KL(final tier's mean probs || tier t's)


def cascade_data(
    tier_members: Sequence[Sequence[str]], combine: str, probs: Mapping[str, np.ndarray],
    labels: np.ndarray,
) -> CascadeData:
    """Features, correctness and distillation targets of every tier on every image."""
    labels = np.asarray(labels)
    own: list[TierFeatures] = []
    avgs = []
    for members in tier_members:
        stack = np.stack([np.asarray(probs[m], dtype=np.float64) for m in members])
        decision = decide_tier(stack, "learned", 0.0, combine)
        own.append(decision_features(stack, decision))
        avgs.append(mean_probs(stack))
    keys = [[member_key(m) for m in members] for members in tier_members]
    inputs, names = [], []
    for t in range(len(tier_members) - 1):
        inputs.append(scheduler_inputs(own[t], own[:t]))
        names.append(scheduler_feature_names(keys[: t + 1]))
    n = labels.shape[0]
    safe = [np.clip(a, 1e-12, 1.0) for a in avgs]
    final = safe[-1]
    return CascadeData(
        inputs=inputs,
        feature_names=names,
        correct=np.stack([f.labels == labels for f in own]),
        log_true=np.stack([np.log(s[np.arange(n), labels]) for s in safe]),
        kl_final=np.stack([(final * (np.log(final) - np.log(s))).sum(axis=1) for s in safe]),
    )


def exit_probabilities(scores: Sequence, n_tiers: int):
    """(reach, exit) per tier from the non-last tiers' scores (works on numpy or torch)."""
    reach, exits = [], []
    current = None
    for t in range(n_tiers):
        r = 1.0 if current is None else current
        q = scores[t] if t < n_tiers - 1 else None
        reach.append(r)
        exits.append(r * q if q is not None else r)
        if q is not None:
            current = r * (1.0 - q)
    return reach, exits


def train_schedulers(
    data: CascadeData, tier_cost: Sequence[float], budget: float,
    settings: TrainSettings | None = None,
) -> list[Scheduler]:
    """One fitted scheduler per non-last tier (EENet loss, full-batch Adam)."""
    import torch

    settings = settings or TrainSettings()
    torch.manual_seed(settings.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny full-batch problem: threads only add contention
    try:
        return _fit(data, tier_cost, budget, settings)
    finally:
        torch.set_num_threads(threads)


def _fit(data: CascadeData, tier_cost, budget: float, settings: TrainSettings) -> list:
    import torch
    from torch.nn.functional import softplus

    n_tiers = data.correct.shape[0]
    means = [x.mean(axis=0) for x in data.inputs]
    stds = [np.where(x.std(axis=0) > 1e-6, x.std(axis=0), 1.0) for x in data.inputs]
    xs = [torch.tensor((x - m) / s, dtype=torch.float32)
          for x, m, s in zip(data.inputs, means, stds, strict=True)]
    nets = [_net(x.shape[1], settings.hidden) for x in xs]
    params = [p for net in nets for p in net.parameters()]
    opt = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    correct = torch.tensor(data.correct, dtype=torch.float32)
    ce = -torch.tensor(data.log_true, dtype=torch.float32)
    kl = torch.tensor(data.kl_final, dtype=torch.float32)
    cost = torch.tensor(list(tier_cost), dtype=torch.float32)
    for _ in range(settings.epochs):
        opt.zero_grad()
        logits = [net(x).squeeze(1) for net, x in zip(nets, xs, strict=True)]
        scores = [torch.sigmoid(z) for z in logits]
        reach, exits = exit_probabilities(scores, n_tiers)
        task = sum((e * ce[t]).mean() for t, e in enumerate(exits))
        distill = sum((e * kl[t]).mean() for t, e in enumerate(exits))
        expected = sum(cost[t] * (r if isinstance(r, float) else r.mean())
                       for t, r in enumerate(reach))
        budget_term = torch.abs(expected - budget) / budget
        # BCE with logits: softplus(z) - y z
        aux = sum((softplus(z) - correct[t] * z).mean() for t, z in enumerate(logits))
        loss = (task + settings.distill_weight * distill + settings.budget_weight * budget_term
                + settings.bce_weight * aux)
        loss.backward()
        opt.step()
    return [
        _export(net, names, m, s)
        for net, names, m, s in zip(nets, data.feature_names, means, stds, strict=True)
    ]


def _net(width: int, hidden: int):
    from torch import nn

    if hidden <= 0:
        return nn.Sequential(nn.Linear(width, 1))
    return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, 1))


def _export(net, names: list[str], mean: np.ndarray, std: np.ndarray) -> Scheduler:
    """numpy layers with (x - mean) / std folded into the first one."""
    import torch

    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    weights = [lin.weight.detach().double().numpy().copy() for lin in linears]
    biases = [lin.bias.detach().double().numpy().copy() for lin in linears]
    first = weights[0] / std[None, :]
    biases[0] = biases[0] - first @ mean
    weights[0] = first
    return Scheduler(tuple(names), tuple(weights), tuple(biases))

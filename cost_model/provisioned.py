"""Provisioned cost: what the GPUs held by live replicas cost, busy or idle.

Input is a replica-count timeline sampled while the load ran; each sample holds until the
next sample of the same deployment (step interpolation). Cost = sum over deployments of
replicas x gpu_fraction x price x wall time. CPU-only deployments (no GPU class, e.g. the
ingress) are listed with zero GPU cost: this model prices GPUs only.

Next to that fractional figure stands the whole-GPU one: at every moment the replicas are
bin-packed (first fit, largest fraction first) onto GPUs of their class, and every GPU that
holds a replica is paid in full, as a cloud bill for whole instances would read.
"""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel, ConfigDict, Field

from cost_model.prices import PriceTable


class ReplicaSample(BaseModel):
    """At time `t` (s), `deployment` had `replicas` live replicas on `gpu_class`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    t: float
    deployment: str
    replicas: int = Field(ge=0)
    gpu_class: str | None = Field(description="None for CPU-only deployments")
    gpu_fraction: float = Field(ge=0)


class ProvisionedCost(BaseModel):
    """GPU-seconds held and their dollars over a window, by GPU class and by deployment."""

    model_config = ConfigDict(extra="forbid")

    window_s: float
    usd: float
    gpu_seconds_by_class: dict[str, float]
    usd_by_class: dict[str, float]
    usd_by_deployment: dict[str, float]
    prices: dict[str, float] = Field(description="$ per GPU-hour used, by GPU class")
    whole_gpu_usd: float = Field(default=0.0, description="every GPU holding a replica, in full")
    whole_gpu_seconds_by_class: dict[str, float] = Field(default_factory=dict)
    whole_gpus_peak_by_class: dict[str, int] = Field(default_factory=dict)


def pack_whole_gpus(fractions_by_class: dict[str, list[float]]) -> dict[str, int]:
    """GPUs needed per class to hold replicas of these GPU fractions (first fit decreasing)."""
    needed: dict[str, int] = {}
    for gpu_class, fractions in fractions_by_class.items():
        free: list[float] = []
        for fraction in sorted(fractions, reverse=True):
            if fraction <= 0:
                continue
            if fraction > 1.0 + 1e-9:
                raise ValueError(f"a replica cannot hold more than one GPU, got {fraction}")
            for i, room in enumerate(free):
                if fraction <= room + 1e-9:
                    free[i] = room - fraction
                    break
            else:
                free.append(1.0 - fraction)
        needed[gpu_class] = len(free)
    return needed


def _whole_gpu_cost(
    by_deployment: dict[str, list[ReplicaSample]], prices: PriceTable, t_start: float,
    t_end: float,
) -> tuple[float, dict[str, float], dict[str, int]]:
    """Integrate packed whole GPUs over the window, step by step between samples."""
    cuts = sorted({t_start, t_end, *(s.t for ss in by_deployment.values() for s in ss
                                     if t_start < s.t < t_end)})
    usd, seconds, peak = 0.0, defaultdict(float), defaultdict(int)
    for begin, end in zip(cuts, cuts[1:], strict=False):
        fractions: dict[str, list[float]] = defaultdict(list)
        for samples in by_deployment.values():
            current = samples[0]
            for sample in samples:
                if sample.t <= begin:
                    current = sample
            if current.gpu_class is not None:
                fractions[current.gpu_class] += [current.gpu_fraction] * current.replicas
        for gpu_class, gpus in pack_whole_gpus(dict(fractions)).items():
            seconds[gpu_class] += gpus * (end - begin)
            peak[gpu_class] = max(peak[gpu_class], gpus)
            usd += gpus * (end - begin) * prices.price(gpu_class).usd_per_second
    return usd, dict(seconds), dict(peak)


def provisioned_cost(
    timeline: list[ReplicaSample], prices: PriceTable, t_start: float, t_end: float
) -> ProvisionedCost:
    """Cost of the replicas in `timeline` over [t_start, t_end].

    Before a deployment's first sample inside the window its first sample is assumed to
    hold (the sampler takes one right at the start, so this only bridges sampling jitter).
    """
    if t_end < t_start:
        raise ValueError(f"window ends before it starts: t_start={t_start}, t_end={t_end}")
    by_deployment: dict[str, list[ReplicaSample]] = defaultdict(list)
    for sample in sorted(timeline, key=lambda s: s.t):
        by_deployment[sample.deployment].append(sample)

    gpu_seconds: dict[str, float] = defaultdict(float)
    usd_by_class: dict[str, float] = defaultdict(float)
    usd_by_deployment: dict[str, float] = {}
    used_prices: dict[str, float] = {}
    for deployment, samples in by_deployment.items():
        total = 0.0
        for i, sample in enumerate(samples):
            begin = t_start if i == 0 else max(sample.t, t_start)
            end = samples[i + 1].t if i + 1 < len(samples) else t_end
            held = max(0.0, min(end, t_end) - begin)
            if held == 0.0 or sample.gpu_class is None or sample.replicas == 0:
                continue
            price = prices.price(sample.gpu_class, deployment)
            gpu_s = sample.replicas * sample.gpu_fraction * held
            gpu_seconds[sample.gpu_class] += gpu_s
            cost = gpu_s * price.usd_per_second
            usd_by_class[sample.gpu_class] += cost
            used_prices[sample.gpu_class] = price.usd_per_hour
            total += cost
        usd_by_deployment[deployment] = total
    whole_usd, whole_seconds, whole_peak = _whole_gpu_cost(
        by_deployment, prices, t_start, t_end
    )
    return ProvisionedCost(
        whole_gpu_usd=whole_usd,
        whole_gpu_seconds_by_class=whole_seconds,
        whole_gpus_peak_by_class=whole_peak,
        window_s=t_end - t_start,
        usd=sum(usd_by_deployment.values()),
        gpu_seconds_by_class=dict(gpu_seconds),
        usd_by_class=dict(usd_by_class),
        usd_by_deployment=usd_by_deployment,
        prices=used_prices,
    )

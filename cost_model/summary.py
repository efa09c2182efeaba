"""$ per 1k predictions, attributed and provisioned, and how well the GPUs were used.

Attributed cost sums the per-request cost records (device-seconds by GPU class, already
including fan-out and escalations) and prices them; provisioned cost is what the replicas
held over the run (cost_model.provisioned). Utilisation = attributed / provisioned. On a
CPU the GPU classes are emulated and every summary says so.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from cost_model.device_time import EMULATION_NOTE
from cost_model.prices import PriceTable
from cost_model.provisioned import ProvisionedCost


class RequestCost(BaseModel):
    """The cost part of one answered prediction, as the server reported it.

    Only the fields the summary needs; the server's CostRecord carries more (per member,
    per tier), which are ignored here so the client keeps working as the record grows.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    device_seconds_by_gpu_class: dict[str, float] = Field(default_factory=dict)
    usd: float | None = None
    emulated: bool | None = None


class PriceUsed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    usd_per_hour: float
    kind: str
    source: str
    date: str


class CostSummary(BaseModel):
    """Dollars per thousand predictions, with where the prices came from."""

    model_config = ConfigDict(extra="forbid")

    predictions: int
    pricing: str
    device_seconds_by_gpu_class: dict[str, float]
    device_ms_per_prediction: float | None
    attributed_usd: float
    attributed_usd_per_1k: float | None
    attributed_usd_per_1k_by_gpu_class: dict[str, float]
    server_reported_usd_per_1k: float | None = Field(
        description="the sum of the servers' own usd figures (their price basis), as a check"
    )
    provisioned_usd: float | None
    provisioned_usd_per_1k: float | None
    provisioned_usd_by_gpu_class: dict[str, float] | None
    provisioned_whole_gpu_usd_per_1k: float | None = Field(
        default=None, description="every GPU holding a replica paid in full (bin-packed)"
    )
    utilisation: float | None = Field(description="attributed / provisioned; None if unknown")
    emulated: bool
    notes: list[str]
    prices: dict[str, PriceUsed]


def _per_1k(usd: float, n: int) -> float | None:
    return usd / n * 1000.0 if n else None


def summarise_costs(
    costs: Iterable[RequestCost],
    prices: PriceTable,
    provisioned: ProvisionedCost | None = None,
    *,
    emulated: bool | None = None,
) -> CostSummary:
    """Sum the request costs, price them, and compare against the provisioned cost.

    `emulated` forces the flag (e.g. when known from the cluster); otherwise it is True if
    any record says so.
    """
    costs = list(costs)
    n = len(costs)
    seconds: dict[str, float] = {}
    server_usd, server_usd_known = 0.0, n > 0
    any_emulated = False
    for cost in costs:
        for gpu_class, secs in cost.device_seconds_by_gpu_class.items():
            seconds[gpu_class] = seconds.get(gpu_class, 0.0) + secs
        if cost.usd is None:
            server_usd_known = False
        else:
            server_usd += cost.usd
        any_emulated = any_emulated or bool(cost.emulated)
    is_emulated = any_emulated if emulated is None else emulated

    price_used = {c: prices.price(c) for c in sorted(seconds)}
    usd_by_class = {c: seconds[c] * price_used[c].usd_per_second for c in sorted(seconds)}
    attributed = sum(usd_by_class.values())
    notes = [EMULATION_NOTE] if is_emulated else []
    if provisioned is None:
        notes.append("provisioned cost not measured (no replica timeline was sampled)")
    notes.append("provisioned cost counts GPUs only; CPU-only deployments (ingress) are free here")
    utilisation = None
    if provisioned is not None and provisioned.usd > 0:
        utilisation = attributed / provisioned.usd
    total_seconds = sum(seconds.values())
    return CostSummary(
        predictions=n,
        pricing=prices.kind,
        device_seconds_by_gpu_class=seconds,
        device_ms_per_prediction=total_seconds / n * 1000.0 if n else None,
        attributed_usd=attributed,
        attributed_usd_per_1k=_per_1k(attributed, n),
        attributed_usd_per_1k_by_gpu_class={c: usd / n * 1000.0 for c, usd in usd_by_class.items()}
        if n
        else {},
        server_reported_usd_per_1k=_per_1k(server_usd, n) if server_usd_known else None,
        provisioned_usd=provisioned.usd if provisioned else None,
        provisioned_usd_per_1k=_per_1k(provisioned.usd, n) if provisioned else None,
        provisioned_usd_by_gpu_class=dict(provisioned.usd_by_class) if provisioned else None,
        provisioned_whole_gpu_usd_per_1k=(
            _per_1k(provisioned.whole_gpu_usd, n) if provisioned else None
        ),
        utilisation=utilisation,
        emulated=is_emulated,
        notes=notes,
        prices={
            c: PriceUsed(usd_per_hour=p.usd_per_hour, kind=p.kind, source=p.source, date=p.date)
            for c, p in price_used.items()
        },
    )

"""Price lookups on top of the GPU catalog: on-demand or spot, with per-deployment overrides.

The catalog (cost_model/catalog.py) is the single source of list prices; this module only
chooses which of its prices applies and lets a user override it for one deployment (a
reserved-instance rate, an internal chargeback price). Every price carries its source and
date so reports can say where a dollar figure came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cost_model.catalog import GPUCatalog, load_catalog

PricingKind = Literal["on-demand", "spot"]


class Price(BaseModel):
    """The price of one GPU of a class for one hour, and where the number comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gpu_class: str
    usd_per_hour: float = Field(gt=0)
    kind: str = Field(description="on-demand, spot or override")
    source: str
    date: str

    @property
    def usd_per_second(self) -> float:
        return self.usd_per_hour / 3600.0


class PriceOverride(BaseModel):
    """A user-supplied price for one deployment, replacing the catalog's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    usd_per_hour: float = Field(gt=0)
    source: str = Field(min_length=1)
    date: str = Field(min_length=4)


class PriceTable:
    """Which price applies to a GPU class (and optionally a deployment) in this report."""

    def __init__(
        self,
        catalog: GPUCatalog | None = None,
        kind: PricingKind = "on-demand",
        overrides: dict[str, PriceOverride] | None = None,
    ) -> None:
        if kind not in ("on-demand", "spot"):
            raise ValueError(f"pricing kind must be 'on-demand' or 'spot', got {kind!r}")
        self.catalog = catalog if catalog is not None else load_catalog()
        self.kind: PricingKind = kind
        self.overrides = dict(overrides or {})

    @classmethod
    def from_path(
        cls, path: str | Path | None = None, kind: PricingKind = "on-demand"
    ) -> PriceTable:
        return cls(load_catalog(path), kind)

    def price(self, gpu_class: str, deployment: str | None = None) -> Price:
        """The applicable price; a deployment override wins over the catalog."""
        if deployment is not None and deployment in self.overrides:
            override = self.overrides[deployment]
            return Price(
                gpu_class=gpu_class, usd_per_hour=override.usd_per_hour, kind="override",
                source=override.source, date=override.date,
            )
        entry = self.catalog.get(gpu_class)
        if self.kind == "spot":
            if entry.spot_price_per_hour_usd is None:
                raise ValueError(
                    f"GPU class {gpu_class!r} has no spot_price_per_hour_usd in the catalog; "
                    "use on-demand pricing or add a spot price"
                )
            return Price(
                gpu_class=gpu_class, usd_per_hour=entry.spot_price_per_hour_usd, kind="spot",
                source=entry.price_source, date=entry.price_date,
            )
        return Price(
            gpu_class=gpu_class, usd_per_hour=entry.price_per_hour_usd, kind="on-demand",
            source=entry.price_source, date=entry.price_date,
        )

    def usd(self, device_seconds: float, gpu_class: str, deployment: str | None = None) -> float:
        """Dollars for `device_seconds` of one GPU of the class."""
        return device_seconds * self.price(gpu_class, deployment).usd_per_second

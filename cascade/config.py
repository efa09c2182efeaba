"""The cascade config: tiers of members, each tier on a GPU class with an exit policy.

Pydantic v2 models, loaded from YAML. Every validation error names the field it is
about (pydantic's `loc`), e.g. `tiers.1.members.0.model`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from cascade.autoscaling import AutoscalingConfig
from cascade.gears import GearSet
from cascade.learned_config import BudgetConfig, SchedulerConfig
from cascade.redundancy import FaultsConfig, RedundancyConfig


class MemberConfig(BaseModel):
    """One model of a tier and how it is deployed."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        description="zoo model name (resnet20) or a torchvision:/torchscript:/module: spec"
    )
    name: str | None = Field(default=None, description="member name; defaults to the model name")
    replicas: int = Field(default=1, ge=1, le=64)
    max_batch_size: int = Field(default=8, ge=1, le=1024)
    batch_wait_timeout_s: float = Field(default=0.005, ge=0.0, le=10.0)
    gpu_fraction: float = Field(default=0.25, gt=0.0, le=8.0)
    max_ongoing_requests: int = Field(default=32, ge=1)
    max_queued_requests: int = Field(default=256, ge=-1)
    fp16: bool = Field(default=False, description="half precision on CUDA (ignored on CPU)")
    channels_last: bool = Field(default=False, description="channels_last memory format")
    autoscaling: AutoscalingConfig | None = Field(
        default=None, description="autoscale this member (overrides the tier's); None = fixed"
    )
    health_check_period_s: float | None = Field(
        default=None, gt=0, le=60,
        description="how often Serve checks that a replica is healthy; None = Serve's "
        "default (10 s). Measured: 2 s did not shorten the replacement of a killed replica",
    )

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str, info: ValidationInfo) -> str:
        check = (info.context or {}).get("check_models", True)
        if check:
            from zoo.registry import ensure_known

            ensure_known(value)
        return value

    @property
    def member_name(self) -> str:
        if self.name:
            return self.name
        return self.model.replace(":", "-").replace("/", "-")


class ExitPolicyConfig(BaseModel):
    """Accept a tier's answer for an image, or send the image on to the next tier."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["agreement", "confidence", "learned"] = "agreement"
    threshold: float = Field(default=1.0, ge=0.0, le=1.0)
    min_members: int | None = Field(
        default=None, ge=1,
        description="answers a tier needs before it may exit (a quorum); default "
        "cascade.policies.default_quorum: ceil(threshold*M) for agreement, M for confidence",
    )
    scheduler: SchedulerConfig | None = Field(
        default=None, description="learned: the scorer (cascade.learned_config)")

    @model_validator(mode="after")
    def _scheduler_fits_kind(self) -> ExitPolicyConfig:
        if self.kind != "learned" and self.scheduler is not None:
            raise ValueError(f"scheduler: only the learned policy has one, not {self.kind!r}")
        if self.kind == "learned" and self.scheduler is None and self.threshold > 0:
            raise ValueError("scheduler: a learned policy with threshold > 0 needs a scheduler")
        return self

    @model_serializer(mode="wrap")
    def _omit_absent_scheduler(self, handler):
        """Agreement and confidence policies read and dump as before: {kind, threshold}."""
        data = handler(self)
        if self.scheduler is None:
            data.pop("scheduler", None)
        return data


class TierConfig(BaseModel):
    """An ensemble of members placed on one GPU class."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.]+$")
    gpu_class: str
    exit_policy: ExitPolicyConfig = Field(default_factory=ExitPolicyConfig)
    combine: Literal["vote", "mean"] = "vote"
    members: list[MemberConfig]
    autoscaling: AutoscalingConfig | None = Field(
        default=None, description="inherited by every member without its own `autoscaling`"
    )

    @field_validator("gpu_class")
    @classmethod
    def _known_gpu_class(cls, value: str, info: ValidationInfo) -> str:
        from cost_model.catalog import load_catalog

        catalog_path = (info.context or {}).get("catalog")
        catalog = load_catalog(catalog_path)
        if value not in catalog.classes:
            known = ", ".join(sorted(catalog.classes))
            raise ValueError(f"unknown GPU class {value!r}; known classes: {known}")
        return value

    @field_validator("members")
    @classmethod
    def _members_unique(cls, members: list[MemberConfig]) -> list[MemberConfig]:
        if not members:
            raise ValueError("a tier needs at least one member")
        names = [m.member_name for m in members]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate member names in tier: {', '.join(dupes)}")
        return members


class IngressConfig(BaseModel):
    """Limits and behaviour of the HTTP ingress."""

    model_config = ConfigDict(extra="forbid")

    max_images_per_request: int = Field(default=64, ge=1, le=4096)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_pixels: int = Field(
        default=1024 * 1024, ge=32 * 32,
        description="per image, read from the header before decoding; the default is 1 Mpx: "
        "the pool's members take 32x32 inputs, so a larger image buys no accuracy",
    )
    max_request_pixels: int = Field(
        default=8 * 1024 * 1024, ge=32 * 32,
        description="sum over a request's images (decode work is bounded per request)",
    )
    decode_threads: int = Field(default=2, ge=1, le=64, description="decode pool size")
    max_inflight_images: int = Field(
        default=256, ge=1,
        description="images in flight per ingress replica; beyond it a fast 503 "
        "(admission covers the members' fan-out, not only requests)",
    )
    door_follows_replicas: bool = Field(
        default=False,
        description="shrink max_inflight_images by the first tier's running share of its "
        "configured replicas (a replica down: its share of the door closes until it is "
        "back): admitted requests do not queue behind lost capacity, at the price of more "
        "503s; measured, it held the median during replica kills, not the p99",
    )
    replicas: int = Field(default=1, ge=1)
    max_ongoing_requests: int = Field(default=64, ge=1)
    max_queued_requests: int = Field(default=256, ge=-1)
    member_timeout_s: float = Field(default=30.0, gt=0)
    allowed_formats: list[Literal["JPEG", "PNG"]] = Field(
        default_factory=lambda: ["JPEG", "PNG"], min_length=1,
        description="image formats accepted (content types follow: image/jpeg, image/png)",
    )
    deadline_ms: float | None = Field(
        default=None, gt=0, description="default per-request deadline; None = no deadline"
    )
    max_deadline_ms: float = Field(default=600_000.0, gt=0, description="cap on the header")
    deadline_header: str = Field(default="X-Coe-Deadline-Ms", pattern=r"^[A-Za-z0-9-]+$")
    on_deadline: Literal["best_effort", "error"] = Field(
        default="best_effort",
        description="best_effort: last completed tier's decision, degraded; error: 504",
    )
    retry_after_s: float = Field(default=1.0, ge=0, description="Retry-After on overload 503s")
    member_retries: int = Field(
        default=1, ge=0, le=3, description="re-sends of a member call whose replica died"
    )
    colocate_first_tier: bool = Field(
        default=False,
        description="run the first tier's members inside each ingress replica, placed on "
        "that tier's GPU class: saves a Serve hop on every request; the first tier's "
        "`replicas` and queue limits then do not apply (scale with ingress.replicas)",
    )


def colocated_gpu_share(tier: TierConfig) -> float:
    """GPU share of an ingress replica that hosts `tier` (colocate_first_tier): its
    members' fractions summed, rounded up to whole GPUs above one, as Ray requires."""
    share = sum(m.gpu_fraction for m in tier.members)
    return share if share <= 1 else float(math.ceil(share))


class CascadeConfig(BaseModel):
    """Ordered tiers; an image leaves at the first tier whose exit policy accepts it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="cascade", pattern=r"^[A-Za-z0-9_.-]+$")
    num_classes: int = Field(default=10, ge=2)
    class_names: list[str] | None = None
    tiers: list[TierConfig] = Field(min_length=1)
    ingress: IngressConfig = Field(default_factory=IngressConfig)
    redundancy: RedundancyConfig | None = Field(
        default=None, description="collage or replication backup of one tier (cascade.redundancy)"
    )
    faults: FaultsConfig | None = Field(
        default=None, description="straggler injection for tests/benchmarks only; off if unset"
    )
    budget: BudgetConfig | None = Field(
        default=None, description="average cost per image of a learned plan (and its keeper)")
    gears: GearSet | None = Field(
        default=None, description="load gears (`coe plan --gears`): exit thresholds of tiers "
        "0..n-2 switched by the ingress arrival rate, with hysteresis (cascade.gears)")

    @model_validator(mode="after")
    def _check_quorums(self) -> CascadeConfig:
        for index, tier in enumerate(self.tiers):
            quorum = tier.exit_policy.min_members
            if quorum is not None and quorum > len(tier.members):
                raise ValueError(
                    f"tiers.{index}.exit_policy.min_members: {quorum} exceeds the tier's "
                    f"{len(tier.members)} member(s)"
                )
        return self

    @model_validator(mode="after")
    def _check_names(self) -> CascadeConfig:
        tier_names = [t.name for t in self.tiers]
        dupes = sorted({n for n in tier_names if tier_names.count(n) > 1})
        if dupes:
            raise ValueError(f"tiers: duplicate tier names: {', '.join(dupes)}")
        if self.redundancy is not None and self.redundancy.tier >= len(self.tiers):
            raise ValueError(f"redundancy.tier: no tier {self.redundancy.tier} in this cascade")
        unknown = sorted(set(self.faults.tiers or []) - set(tier_names)) if self.faults else []
        if unknown:
            raise ValueError(f"faults.tiers: unknown tier(s) {', '.join(unknown)}")
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            given, expected = len(self.class_names), self.num_classes
            raise ValueError(f"class_names: {given} names given for num_classes={expected}")
        from cascade.learned_check import check_scheduler_features

        check_scheduler_features(self.tiers)
        return self

    @model_validator(mode="after")
    def _check_gears(self) -> CascadeConfig:
        if self.gears is None:
            return self
        if self.budget is not None:
            raise ValueError("gears: a cascade with a budget keeper cannot also switch gears "
                             "(both move the same thresholds)")
        want = len(self.tiers) - 1
        for index, gear in enumerate(self.gears.gears):
            if len(gear.thresholds) != want:
                raise ValueError(f"gears.gears.{index}.thresholds: {len(gear.thresholds)} "
                                 f"given, the cascade has {want} tier(s) before the last")
        learned = [t.name for t in self.tiers[:-1] if t.exit_policy.kind == "learned"]
        if learned:
            raise ValueError(f"gears: tier {learned[0]} has a learned policy; gears set "
                             "agreement or confidence thresholds")
        return self

    @model_serializer(mode="wrap")
    def _omit_absent_options(self, handler):
        data = handler(self)
        for key in ("budget", "gears"):
            if getattr(self, key) is None:
                data.pop(key, None)
        return data

    def deployment_name(self, tier: TierConfig, member: MemberConfig) -> str:
        return f"{tier.name}-{member.member_name}"

    def class_name(self, label: int) -> str:
        if self.class_names:
            return self.class_names[label]
        return str(label)


def load_cascade(
    path: str | Path, *, check_models: bool = True, catalog: str | None = None
) -> CascadeConfig:
    """Read and validate a cascade YAML file."""
    with open(path) as handle:
        raw = yaml.safe_load(handle)
    return parse_cascade(raw, check_models=check_models, catalog=catalog)


def parse_cascade(
    raw: dict, *, check_models: bool = True, catalog: str | None = None
) -> CascadeConfig:
    """Validate a cascade config given as a dict (YAML or JSON already parsed)."""
    context = {"check_models": check_models, "catalog": catalog}
    return CascadeConfig.model_validate(raw, context=context)


def dump_cascade(config: CascadeConfig, path: str | Path) -> None:
    """Write a config as YAML that `load_cascade` reads back unchanged."""
    with open(path, "w") as handle:
        yaml.safe_dump(config.model_dump(mode="json", exclude_none=True), handle, sort_keys=False)

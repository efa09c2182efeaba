"""Autoscaling settings of a member (or a whole tier), and their mapping to Serve.

Why here: the bounds and delays are part of the cascade config a user writes, so they are
validated with it (errors name the field, e.g. `tiers.1.autoscaling.max_replicas`), and
the one mapping to Ray Serve's `autoscaling_config` lives next to them. A tier's setting
is inherited by every member that has none of its own.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class AutoscalingConfig(BaseModel):
    """Replica bounds, the per-replica load Serve's default autoscaler aims at, and delays
    (defaults: Serve's own, except max_replicas)."""

    model_config = ConfigDict(extra="forbid")

    min_replicas: int = Field(default=1, ge=0, le=1024)
    max_replicas: int = Field(default=8, ge=1, le=1024)
    target_ongoing_requests: float = Field(
        default=2.0, gt=0, description="ongoing requests per replica Serve's autoscaler aims at"
    )
    upscale_delay_s: float = Field(default=30.0, ge=0, le=3600)
    downscale_delay_s: float = Field(default=600.0, ge=0, le=86400)

    @model_validator(mode="after")
    def _bounds_ordered(self) -> AutoscalingConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"max_replicas: {self.max_replicas} is below min_replicas {self.min_replicas}"
            )
        return self

    def serve_autoscaling_config(self, initial_replicas: int | None = None) -> dict:
        """The dict Ray Serve's `autoscaling_config` deployment option takes."""
        out = {
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "target_ongoing_requests": self.target_ongoing_requests,
            "upscale_delay_s": self.upscale_delay_s,
            "downscale_delay_s": self.downscale_delay_s,
        }
        if initial_replicas is not None:
            out["initial_replicas"] = min(max(initial_replicas, self.min_replicas),
                                          self.max_replicas)
        return out


def effective_autoscaling(tier, member) -> AutoscalingConfig | None:
    """The member's own setting, else its tier's, else None (fixed `replicas`)."""
    return member.autoscaling if member.autoscaling is not None else tier.autoscaling


def replica_options(tier, member) -> dict:
    """Serve deployment options for a member's replica count: fixed, or autoscaled."""
    scaling = effective_autoscaling(tier, member)
    if scaling is None:
        return {"num_replicas": member.replicas}
    return {"autoscaling_config": scaling.serve_autoscaling_config(member.replicas)}


def any_autoscaling(config) -> bool:
    """Does any member of the cascade autoscale (its own setting or its tier's)?"""
    return any(effective_autoscaling(t, m) is not None for t in config.tiers for m in t.members)


# How often the ingress pushes its counters to Serve's controller, and over how long the
# controller averages them. Serve's defaults (10 s, 30 s) made the application policy see
# a step in load 20-40 s late. Serve marks metrics_interval_s deprecated in favour of an
# environment variable that this Ray version defines but does not read.
INGRESS_METRICS_INTERVAL_S = 2.0
INGRESS_LOOK_BACK_S = 4.0
PUSHES_PER_WINDOW = 3  # the policy's rate over fewer pushes flips with the counter's steps


def policy_timing(push_interval_s: float = INGRESS_METRICS_INTERVAL_S) -> dict[str, float]:
    """The application policy's `min_interval_s` and `rate_window_s` for the ingress's
    metric push interval (serve_app.autoscale_policy; the live bench's simulation too)."""
    return {"min_interval_s": push_interval_s,
            "rate_window_s": PUSHES_PER_WINDOW * push_interval_s}


def ingress_replica_options(config) -> dict:
    """The ingress keeps `ingress.replicas`; when members autoscale it gets an
    autoscaling_config pinned at that count, because Serve collects the counters an
    application-level policy reads only from autoscaling deployments."""
    count = config.ingress.replicas
    if not any_autoscaling(config):
        return {"num_replicas": count}
    return {"autoscaling_config": {"min_replicas": count, "max_replicas": count,
                                   "initial_replicas": count,
                                   "metrics_interval_s": INGRESS_METRICS_INTERVAL_S,
                                   "look_back_period_s": INGRESS_LOOK_BACK_S}}

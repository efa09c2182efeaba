"""`build_app(args)`: THE one place that wires a cascade's deployments into a Serve app.

Works with `serve run serve_app.app:build_app config=configs/cifar10-coe.yaml`, with a Serve
config YAML (`import_path: serve_app.app:build_app` + `args:`), and from Python/`coe serve`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from foundation.paths import REPO_ROOT


class BuildArgs(BaseModel):
    """Arguments of the app builder (strings from the CLI are coerced by pydantic)."""

    model_config = ConfigDict(extra="forbid")

    config: str | dict[str, Any] = Field(description="cascade YAML path, or the config inline")
    catalog: str | None = Field(default=None, description="GPU catalog YAML (default: bundled)")
    check_models: bool = Field(default=True, description="check member names against the zoo")
    ingress_num_cpus: float = Field(default=0.5, ge=0.0)
    pin_ingress_to_head: bool = Field(
        default=False,
        description="needs a `coe cluster up` cluster (coe_head resource); ignored with "
        "colocate_first_tier (the ingress then lives on the first tier's GPU class)",
    )
    member_num_cpus: float = Field(default=0.25, ge=0.0, description="CPUs per member replica")
    admin_token_env: str = Field(
        default="COE_ADMIN_TOKEN",
        description="env var holding the admin bearer token, read where the builder runs "
        "(under `serve deploy`: on the cluster; set it in the app's runtime_env.env_vars)",
    )
    admin_token_file: str | None = Field(
        default=None,
        description="file holding the admin token (first line), read where the builder "
        "runs; used when the env var is unset",
    )
    admin_api: Literal["auto", "required", "off"] = Field(
        default="auto",
        description="required: refuse to start without a token; auto: on iff a token is "
        "found (a warning says when it is off); off: never",
    )


def resolve_path(path: str) -> Path:
    """A path as given, else relative to the repository (Serve may run us from elsewhere)."""
    candidate = Path(path).expanduser()
    if candidate.exists() or candidate.is_absolute():
        return candidate
    in_repo = REPO_ROOT / candidate
    return in_repo if in_repo.exists() else candidate


def load_config(args: BuildArgs):
    """The validated CascadeConfig named (or given inline) by the build args."""
    from cascade.config import load_cascade, parse_cascade

    catalog = str(resolve_path(args.catalog)) if args.catalog else None
    if isinstance(args.config, dict):
        return parse_cascade(args.config, check_models=args.check_models, catalog=catalog)
    return load_cascade(resolve_path(args.config), check_models=args.check_models, catalog=catalog)


def current_runtime_env() -> dict:
    """The runtime_env the builder runs in: under `serve deploy`, the application's own."""
    import ray

    return dict(ray.get_runtime_context().runtime_env) if ray.is_initialized() else {}


def build_app(args: dict):
    """Validate `args` (see BuildArgs) and return the bound cascade application."""
    from ray.serve.config import BackpressureConfig

    from cascade.autoscaling import ingress_replica_options, replica_options
    from cluster.placement import ingress_actor_options, ray_actor_options_for
    from cost_model.catalog import load_catalog
    from serve_app.cpu_priority import idle_launch_runtime_env
    from serve_app.ingress import CascadeIngress
    from serve_app.member import MemberDeployment
    from serve_app.redundancy_wiring import protected_replica_options, redundancy_deployments

    parsed = args if isinstance(args, BuildArgs) else BuildArgs.model_validate(args)
    config = load_config(parsed)
    catalog = str(resolve_path(parsed.catalog)) if parsed.catalog else None
    gpu_catalog = load_catalog(catalog)
    colocated = config.tiers[0] if config.ingress.colocate_first_tier else None
    handles, local_members = {}, []
    app_env = current_runtime_env()
    for tier_index, tier in enumerate(config.tiers):
        for member in tier.members:
            name = config.deployment_name(tier, member)
            if tier is colocated:  # built inside the ingress replica, not deployed
                local_members.append(dict(
                    name=name, spec=member.model, tier=tier.name, member=member.member_name,
                    gpu_class=tier.gpu_class, max_batch_size=member.max_batch_size,
                    batch_wait_timeout_s=member.batch_wait_timeout_s, catalog=catalog,
                    fp16=member.fp16, channels_last=member.channels_last))
                continue
            options = ray_actor_options_for(
                tier.gpu_class, member.gpu_fraction, gpu_catalog, num_cpus=parsed.member_num_cpus
            )
            launch = idle_launch_runtime_env(app_env)  # {} unless start-ups run idle
            if launch:
                options["runtime_env"] = launch
            handles[name] = MemberDeployment.options(
                name=name,
                **protected_replica_options(  # fixed replicas, or autoscaling_config
                    config, tier_index, replica_options(tier, member)),
                ray_actor_options=options,
                max_ongoing_requests=member.max_ongoing_requests,
                max_queued_requests=member.max_queued_requests,
                **health_check_options(member),
            ).bind(
                member.model,
                tier.name,
                member.member_name,
                tier.gpu_class,
                member.max_batch_size,
                member.batch_wait_timeout_s,
                catalog,
                fp16=member.fp16,
                channels_last=member.channels_last,
            )
    handles.update(
        redundancy_deployments(config, gpu_catalog, catalog, parsed.member_num_cpus))
    ingress = CascadeIngress.options(
        **ingress_replica_options(config),
        max_ongoing_requests=config.ingress.max_ongoing_requests,
        max_queued_requests=config.ingress.max_queued_requests,
        # queue full -> the proxy answers 503 at once, with Retry-After
        backpressure_config=BackpressureConfig(retry_after_s=config.ingress.retry_after_s),
        # exit thresholds: changed at runtime by `reconfigure`, no restart
        user_config=initial_policies(config),
        ray_actor_options=(
            colocated_ingress_options(colocated, gpu_catalog, parsed) if colocated
            else ingress_actor_options(
                pin_to_head=parsed.pin_ingress_to_head, num_cpus=parsed.ingress_num_cpus)
        ),
    )
    digest = admin_digest(parsed)  # only the digest leaves the builder
    return ingress.bind(config.model_dump(mode="json"), handles, catalog, digest, local_members)


def admin_digest(parsed: BuildArgs) -> str | None:
    """The admin token's digest from the env var, else the token file; None if the admin
    API is off. Raises (the deploy fails, loudly) when it is `required` and no token."""
    import logging

    from serve_app.admin import digest_from_env, digest_from_file

    if parsed.admin_api == "off":
        return None
    digest = digest_from_env(parsed.admin_token_env)
    if digest is None and parsed.admin_token_file:
        digest = digest_from_file(resolve_path(parsed.admin_token_file))
    if digest is None and parsed.admin_api == "required":
        raise ValueError(
            f"admin_api is 'required' but no admin token was found: env var "
            f"{parsed.admin_token_env} is unset where the app is built and admin_token_file "
            f"is {parsed.admin_token_file!r}. Under `serve deploy`/`serve run` set it in the "
            "application's runtime_env.env_vars or give admin_token_file (see README)"
        )
    if digest is None:
        logging.getLogger("ray.serve").warning(
            "admin API disabled: no token in %s or admin_token_file", parsed.admin_token_env)
    return digest


def health_check_options(member) -> dict:
    """Serve's health-check period for a member, only when the config sets one."""
    period = member.health_check_period_s
    return {} if period is None else {"health_check_period_s": period}


def colocated_ingress_options(tier, gpu_catalog, parsed: BuildArgs) -> dict:
    """Ingress placement when it hosts the first tier: that tier's GPU class and GPU share
    (cascade.config.colocated_gpu_share) and CPUs for the ingress + members."""
    from cascade.config import colocated_gpu_share
    from cluster.placement import ray_actor_options_for

    num_cpus = parsed.ingress_num_cpus + parsed.member_num_cpus * len(tier.members)
    return ray_actor_options_for(tier.gpu_class, colocated_gpu_share(tier), gpu_catalog,
                                 num_cpus=num_cpus)


def initial_policies(config) -> dict:
    """The ingress user_config: every tier's exit policy as configured."""
    return {
        "exit_policies": {
            tier.name: tier.exit_policy.model_dump(mode="json") for tier in config.tiers
        }
    }

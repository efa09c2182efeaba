"""Wire a config's `redundancy` and `faults` into the app: deployments and ingress plans.

Kept apart from serve_app.app / serve_app.ingress so those only carry one-line hooks:
`redundancy_deployments` adds the collage deployment (on its own GPU class) to the handles
the ingress receives, `protected_replica_options` gives replication its second replica, and
`wire_redundancy` shields the protected tier's plans in the ingress replica.
"""

from __future__ import annotations

COLLAGE_HANDLE = "__redundancy__collage"


def protected_replica_options(config, tier_index: int, options: dict) -> dict:
    """Replication sends every protected call to two replicas: deploy at least two
    (a fixed count is raised; an autoscaled member keeps its own bounds)."""
    spec = config.redundancy
    if (spec is not None and spec.kind == "replication" and spec.tier == tier_index
            and "num_replicas" in options):
        return {**options, "num_replicas": max(options["num_replicas"], 2)}
    return options


def redundancy_deployments(config, gpu_catalog, catalog: str | None, num_cpus: float) -> dict:
    """{handle name: bound deployment} for the redundancy section (the collage CNN)."""
    spec = config.redundancy
    if spec is None or spec.kind != "collage":
        return {}
    from cluster.placement import ray_actor_options_for
    from serve_app.collage_member import CollageDeployment

    tier = config.tiers[spec.tier]
    options = ray_actor_options_for(spec.gpu_class, spec.gpu_fraction, gpu_catalog,
                                    num_cpus=num_cpus)
    deployment = CollageDeployment.options(
        name=f"{tier.name}-collage", num_replicas=spec.replicas, ray_actor_options=options,
        max_ongoing_requests=64,
    )
    return {COLLAGE_HANDLE: deployment.bind(spec.gpu_class, catalog)}


def wire_redundancy(config, plans: list, handles: dict):
    """(plans, ledger): the ingress's plans with faults and the shield attached; ledger
    None when the config has neither `redundancy` nor `faults`."""
    if config.redundancy is None and config.faults is None:
        return plans, None
    from serve_app.redundancy import attach_redundancy

    collage_call = None
    if COLLAGE_HANDLE in handles:
        method = handles[COLLAGE_HANDLE].classify_collage

        async def collage_call(collage, filled):
            return await method.remote(collage, filled)

    return attach_redundancy(config, plans, collage_call)

"""Which models a plan may use: the `--pool` argument of `coe plan` and `coe bench resplit`."""

from __future__ import annotations


def resolve_pool(text: str) -> list[str]:
    """`--pool` text -> model specs: 'all' (every available model) or a comma list."""
    from zoo.registry import ensure_known, list_models

    if text.strip() == "all":
        pool = [info.name for info in list_models() if info.available]
        if len(pool) < 2:
            raise ValueError("--pool all: fewer than 2 models are available (run `coe zoo train`)")
        return pool
    pool = [p.strip() for p in text.split(",") if p.strip()]
    if not pool:
        raise ValueError("--pool: no model names given")
    for spec in pool:
        ensure_known(spec)
    if len(set(pool)) != len(pool):
        raise ValueError("--pool: a model is listed twice")
    return pool

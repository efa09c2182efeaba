"""Serve's router settings reach every process that imports Serve, and never override a user."""

from __future__ import annotations

from cluster.serve_env import (
    METRICS_EXPORT_ENV,
    ROUTER_MAX_BACKOFF_ENV,
    serve_env_defaults,
    with_serve_env,
)


def test_defaults_cap_the_router_backoff_below_serves_half_second():
    assert float(serve_env_defaults()[ROUTER_MAX_BACKOFF_ENV]) < 0.5


def test_with_serve_env_fills_only_unset_variables():
    env = {"PATH": "/bin"}
    assert with_serve_env(env) is env
    assert env == {"PATH": "/bin", ROUTER_MAX_BACKOFF_ENV: "0.05", METRICS_EXPORT_ENV: "1000"}
    mine = {ROUTER_MAX_BACKOFF_ENV: "0.2", METRICS_EXPORT_ENV: "100"}
    assert with_serve_env(dict(mine)) == mine


def test_serves_cached_metrics_are_flushed_once_a_second_not_ten_times():
    assert int(serve_env_defaults()[METRICS_EXPORT_ENV]) == 1000


"""The Ray Serve application-level policy adapter, driven with fake contexts (no Ray)."""

from types import SimpleNamespace

from serve_app.autoscale_policy import EscalationAwareAppPolicy, ingress_autoscaling_stats

CALLS = [0.001 + 0.0001 * b for b in range(1, 9)]
MEMBERS = [
    {"deployment": "t0-a", "tier": 0, "call_seconds": CALLS, "host_seconds_per_request": 0.001,
     "max_replicas": 64},
    {"deployment": "t1-b", "tier": 1, "call_seconds": CALLS, "host_seconds_per_request": 0.001,
     "max_replicas": 64},
]


def contexts(now, images, exits):
    metrics = {k: {"replica-1": v} for k, v in ingress_autoscaling_stats(images, exits).items()}
    ingress = SimpleNamespace(deployment_name="CascadeIngress", current_time=now,
                              aggregated_metrics=metrics)
    members = {f"id-{m['deployment']}": SimpleNamespace(
        deployment_name=m["deployment"], current_time=now, aggregated_metrics={})
        for m in MEMBERS}
    return {"id-ingress": ingress, **members}


def test_sizes_tiers_from_rate_and_reach_and_leaves_the_ingress_alone():
    policy = EscalationAwareAppPolicy(MEMBERS, tiers=2)
    assert policy(contexts(0.0, 0, [0, 0])) == ({}, {})  # first call: a baseline only
    # 10 s later: 30,000 more images (3,000/s), 10% escalated
    decisions, state = policy(contexts(10.0, 30_000, [27_000, 3_000]))
    assert set(decisions) == {"id-t0-a", "id-t1-b"} and state == {}
    low = decisions["id-t1-b"]
    # the same rate, escalation up to 60%: tier 1 grows, tier 0 does not
    decisions, _ = policy(contexts(20.0, 60_000, [27_000 + 12_000, 3_000 + 18_000]))
    assert decisions["id-t1-b"] > low
    assert decisions["id-t0-a"] == policy.last_decision["t0-a"]


def test_calls_closer_than_the_interval_repeat_the_last_decision():
    policy = EscalationAwareAppPolicy(MEMBERS, tiers=2, min_interval_s=5.0)
    policy(contexts(0.0, 0, [0, 0]))
    first, _ = policy(contexts(10.0, 30_000, [27_000, 3_000]))
    again, _ = policy(contexts(11.0, 90_000, [80_000, 10_000]))
    assert again == first


def test_without_ingress_metrics_nothing_is_decided():
    policy = EscalationAwareAppPolicy(MEMBERS, tiers=2)
    only_members = {k: v for k, v in contexts(0.0, 0, [0, 0]).items() if k != "id-ingress"}
    assert policy(only_members) == ({}, {})


def test_a_call_between_two_metric_reports_keeps_the_decision_instead_of_reading_zero():
    """Replicas report every 10 s; the policy runs more often. Unchanged counters are no
    news, not a zero rate, until they are stale (then traffic really stopped)."""
    policy = EscalationAwareAppPolicy(MEMBERS, tiers=2, min_interval_s=5.0, stale_after_s=30.0)
    policy(contexts(0.0, 0, [0, 0]))
    busy, _ = policy(contexts(10.0, 30_000, [27_000, 3_000]))
    between, _ = policy(contexts(16.0, 30_000, [27_000, 3_000]))  # no new report yet
    assert between == busy
    later, _ = policy(contexts(20.0, 60_000, [54_000, 6_000]))  # the next report: same rate
    assert later == busy
    stale, _ = policy(contexts(55.0, 60_000, [54_000, 6_000]))  # 35 s without a change
    assert stale["id-t0-a"] < busy["id-t0-a"]

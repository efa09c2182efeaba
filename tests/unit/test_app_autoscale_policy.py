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


def contexts(now, images, exits, refused=0):
    metrics = {k: {"replica-1": v}
               for k, v in ingress_autoscaling_stats(images, exits, refused).items()}
    ingress = SimpleNamespace(deployment_name="CascadeIngress", current_time=now,
                              aggregated_metrics=metrics)
    members = {f"id-{m['deployment']}": SimpleNamespace(
        deployment_name=m["deployment"], current_time=now, aggregated_metrics={})
        for m in MEMBERS}
    return {"id-ingress": ingress, **members}


def test_sizes_tiers_from_rate_and_reach_and_leaves_the_ingress_alone():
    policy = EscalationAwareAppPolicy(MEMBERS, tiers=2, rate_window_s=10.0)
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
    policy = EscalationAwareAppPolicy(MEMBERS, tiers=2, min_interval_s=5.0, rate_window_s=10.0)
    policy(contexts(0.0, 0, [0, 0]))
    first, _ = policy(contexts(10.0, 30_000, [27_000, 3_000]))
    again, _ = policy(contexts(11.0, 90_000, [80_000, 10_000]))
    assert again == first


def test_without_ingress_metrics_nothing_is_decided():
    policy = EscalationAwareAppPolicy(MEMBERS, tiers=2)
    only_members = {k: v for k, v in contexts(0.0, 0, [0, 0]).items() if k != "id-ingress"}
    assert policy(only_members) == ({}, {})


def test_nothing_is_decided_before_the_window_fills():
    policy = EscalationAwareAppPolicy(MEMBERS, tiers=2, rate_window_s=20.0)
    policy(contexts(0.0, 0, [0, 0]))
    assert policy(contexts(10.0, 30_000, [27_000, 3_000])) == ({}, {})
    decided, _ = policy(contexts(20.0, 60_000, [54_000, 6_000]))
    assert decided


def test_a_counter_that_moves_in_steps_gives_a_steady_decision():
    """What Serve hands over live: replicas push every 10 s, so at a steady 3,000 images/s
    the counter jumps by 30,000 every 10 s and sits still in between, while the policy runs
    every 5 s. Over 5 s the rate read 6,000 and 0 by turns and the decision flipped; over a
    20-s window it is steady."""
    policy = EscalationAwareAppPolicy(MEMBERS, tiers=2, min_interval_s=5.0, rate_window_s=20.0)
    decisions = []
    for tick in range(0, 24):
        now = 5.0 * tick
        pushed = 30_000 * int(now // 10.0)
        out, _ = policy(contexts(now, pushed, [int(pushed * 0.9), int(pushed * 0.1)]))
        if now >= 30.0:
            decisions.append(out["id-t0-a"])
    assert len(set(decisions)) == 1, decisions
    steady = EscalationAwareAppPolicy(MEMBERS, tiers=2, rate_window_s=10.0)
    steady(contexts(0.0, 0, [0, 0]))
    smooth, _ = steady(contexts(10.0, 30_000, [27_000, 3_000]))
    assert decisions[0] == smooth["id-t0-a"]  # and it is the decision for 3,000/s


def test_traffic_that_stops_scales_down():
    policy = EscalationAwareAppPolicy(MEMBERS, tiers=2, min_interval_s=5.0, rate_window_s=20.0)
    policy(contexts(0.0, 0, [0, 0]))
    busy, _ = policy(contexts(20.0, 60_000, [54_000, 6_000]))
    policy(contexts(30.0, 60_000, [54_000, 6_000]))
    idle, _ = policy(contexts(45.0, 60_000, [54_000, 6_000]))  # 25 s without an image
    assert idle["id-t0-a"] < busy["id-t0-a"]


def test_no_scale_down_while_the_door_refuses_images():
    """Live, new replicas starting on a shared host slowed the answers; an answer rate that
    fell read as less demand and the policy scaled down mid-step (reports/autoscale-live-6).
    While the door refuses, a lower answer rate is capacity, not demand: hold."""
    policy = EscalationAwareAppPolicy(MEMBERS, tiers=2, min_interval_s=5.0, rate_window_s=10.0)
    policy(contexts(0.0, 0, [0, 0]))
    busy, _ = policy(contexts(10.0, 30_000, [27_000, 3_000]))
    slowed, _ = policy(contexts(20.0, 40_000, [36_000, 4_000], refused=500))
    assert slowed == busy
    calm, _ = policy(contexts(30.0, 50_000, [45_000, 5_000], refused=500))  # none refused
    assert calm["id-t0-a"] < busy["id-t0-a"]

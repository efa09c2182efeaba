"""Queue limits from measured capacity: the chaos overload bound, inverted."""

import pytest

from load_tests.chaos.limits import MeasuredCapacity, queue_limits
from load_tests.chaos.overload import admitted_p99_bound_ms


def test_limits_meet_the_target_and_fill_the_pipeline():
    measured = MeasuredCapacity(capacity_rps=40.0, service_p99_ms=250.0, images_per_request=2)
    limits = queue_limits(measured, target_p99_ms=1500.0)
    depth = limits.max_ongoing_requests + limits.max_queued_requests
    assert admitted_p99_bound_ms(depth, 40.0, 250.0) <= 1500.0
    assert admitted_p99_bound_ms(depth + 1, 40.0, 250.0) > 1500.0  # the largest that fits
    assert limits.max_ongoing_requests == 10  # 40 req/s x 0.25 s
    assert limits.max_inflight_images == 2 * depth


def test_an_impossible_target_is_refused():
    with pytest.raises(ValueError, match="no queue can meet it"):
        queue_limits(MeasuredCapacity(capacity_rps=10, service_p99_ms=600), 1000.0)

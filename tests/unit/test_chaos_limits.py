"""Queue limits from measured capacity: the chaos overload bound, inverted."""

import pytest

from load_tests.chaos.limits import (
    DOOR_SLACK,
    ROUTING_QUEUE,
    MeasuredCapacity,
    admitted_depth,
    queue_limits,
)
from load_tests.chaos.overload import admitted_p99_bound_ms


def depth_of(limits, images_per_request=1.0) -> int:
    return admitted_depth(limits.max_ongoing_requests, limits.max_queued_requests,
                          limits.max_inflight_images, images_per_request)


def test_limits_meet_the_target_with_the_deepest_queue_that_fits():
    measured = MeasuredCapacity(capacity_rps=40.0, service_p99_ms=250.0, images_per_request=2)
    limits = queue_limits(measured, target_p99_ms=3000.0)
    depth = depth_of(limits, 2)
    assert depth == 50  # (3000 / 2 - 250) ms x 40 req/s
    assert admitted_p99_bound_ms(depth, 40.0, 250.0) <= 3000.0
    assert admitted_p99_bound_ms(depth + 1, 40.0, 250.0) > 3000.0


def test_the_door_holds_the_queue_and_serve_keeps_only_routing_slack():
    limits = queue_limits(MeasuredCapacity(capacity_rps=40.0, service_p99_ms=250.0), 3000.0)
    assert limits.max_queued_requests == ROUTING_QUEUE
    assert limits.max_inflight_images == 50 - ROUTING_QUEUE
    # every request can reach the door, so the excess gets the door's fast 503
    assert limits.max_ongoing_requests == limits.max_inflight_images + DOOR_SLACK
    assert limits.member_max_ongoing_requests_at_least == limits.max_inflight_images


def test_the_routing_queue_is_a_measured_choice_and_the_door_takes_the_rest():
    measured = MeasuredCapacity(capacity_rps=40.0, service_p99_ms=250.0)
    limits = queue_limits(measured, 3000.0, routing_queue=2)
    assert limits.max_queued_requests == 2
    assert limits.max_inflight_images == 48  # the same depth (50), held by the door
    assert limits.max_ongoing_requests == 48 + DOOR_SLACK


def test_a_negative_routing_queue_is_an_error_that_names_it():
    with pytest.raises(ValueError, match="routing_queue"):
        queue_limits(MeasuredCapacity(capacity_rps=40.0, service_p99_ms=250.0), 3000.0,
                     routing_queue=-1)


def test_a_shallow_queue_still_keeps_a_door():
    limits = queue_limits(MeasuredCapacity(capacity_rps=10.0, service_p99_ms=200.0), 1000.0)
    assert limits.max_inflight_images >= 1 and limits.max_queued_requests >= 1
    assert depth_of(limits) == 3  # (1000 / 2 - 200) ms x 10 req/s


def test_admitted_depth_counts_the_smaller_of_ongoing_and_door():
    assert admitted_depth(13, 32, 45) == 45
    assert admitted_depth(64, 16, 45) == 61
    assert admitted_depth(64, 16, 45, images_per_request=3) == 31


def test_an_impossible_target_is_refused():
    with pytest.raises(ValueError, match="no queue can meet it"):
        queue_limits(MeasuredCapacity(capacity_rps=10, service_p99_ms=600), 1000.0)

"""The load client's wait after a 503: Retry-After is the floor, then exponential backoff
with jitter, capped, so waiting clients spread out instead of re-sending in waves."""

import random

from load_tests.client.retry import RETRY_BACKOFF_CAP_S, retry_wait_s


def test_retry_after_is_the_floor_and_waits_grow_then_cap():
    rng = random.Random(0)
    first = [retry_wait_s(1.0, 0, rng) for _ in range(200)]
    assert min(first) >= 1.0 and max(first) <= 1.5
    fourth = [retry_wait_s(1.0, 3, rng) for _ in range(200)]
    assert min(fourth) >= 4.0 and max(fourth) <= 12.0  # 8 s +- 50%
    assert len({round(w, 3) for w in fourth}) > 100  # jittered: no two waves alike
    assert all(retry_wait_s(1.0, 30, rng) <= RETRY_BACKOFF_CAP_S for _ in range(50))


def test_a_retry_after_above_the_cap_is_still_honoured():
    assert retry_wait_s(30.0, 5, random.Random(1)) == 30.0

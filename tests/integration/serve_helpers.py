"""Small helpers for the integration tests (kept out of conftest so tests can import them)."""

from __future__ import annotations

import time


def wait_until(predicate, timeout_s: float = 60.0, interval_s: float = 0.2):
    """Poll `predicate` until truthy (for Serve state that settles asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval_s)

"""Judging an overload run: did the admitted requests' p99 stay bounded, and not grow?

Pure functions over the load generator's records, so the rule is unit-tested and the
same in `coe chaos` and in the reliability tests. The rule is fixed before any run:
an admitted request waits behind at most `queue_depth` others (Serve's queue plus what the
ingress holds: max_ongoing, or fewer when the image door max_inflight_images is smaller;
limits.admitted_depth), served at the rate the server achieved DURING the overload,
plus its own service time (the p99 at capacity); the bound is twice that. The overall
p99 AND the p99 of every full 10-s window of the overload must stay under it, so a p99
that creeps up over the run fails even when the run-wide p99 looks fine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from load_tests.client.records import RequestRecord

SLACK = 2.0
WINDOW_S = 10.0
MIN_WINDOW_OK = 20  # a window with fewer admitted answers has no meaningful p99


def admitted_p99_bound_ms(queue_depth: int, admitted_rps: float, service_p99_ms: float) -> float:
    """The Little's-law bound on an admitted request's latency, with SLACK."""
    if admitted_rps <= 0:
        raise ValueError(f"admitted_rps must be > 0, got {admitted_rps}")
    return SLACK * (1000.0 * queue_depth / admitted_rps + service_p99_ms)


def p99_by_window(
    records: Sequence[RequestRecord], send_window_s: float, window_s: float = WINDOW_S
) -> list[dict[str, Any]]:
    """p99 of 2xx answers per send-time window; `full` marks windows that lie wholly
    inside the scheduled `send_window_s` (the last, partial one is shown, not judged)."""
    ok = [r for r in records if r.ok]
    out = []
    for k in range(int(np.ceil(send_window_s / window_s))):
        start, end = k * window_s, (k + 1) * window_s
        ms = [r.latency_s * 1000.0 for r in ok if start <= r.t_send < end]
        if ms:
            out.append({"from_s": start, "ok": len(ms),
                        "p99_ms": round(float(np.percentile(ms, 99)), 1),
                        "full": end <= send_window_s + 1e-6})
    return out


def p99_bounded(overall_p99_ms: float | None, windows: Sequence[dict[str, Any]],
                bound_ms: float) -> bool:
    """True if the run-wide p99 and every full, populated window's p99 are within bound."""
    if overall_p99_ms is None or overall_p99_ms > bound_ms:
        return False
    judged = [w for w in windows if w["full"] and w["ok"] >= MIN_WINDOW_OK]
    return bool(judged) and all(w["p99_ms"] <= bound_ms for w in judged)

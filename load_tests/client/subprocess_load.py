"""Run the load client in its own process, with the replica sampler left in the caller.

On this 2-core machine a benchmark's driver process also polls `serve.status()` and samples
the host's CPU. Sharing a GIL with those, the load client's event loop stalls, and the
stalls show up as request latency in front of the cascade: in the live autoscale check the
driver's process spent 8-16 ms of CPU per request at the low step against 1.4 ms in the
calibration, which ran without the samplers. A spawned child has its own interpreter (the
parent is a Ray driver, which must not be forked); the records come back over a pipe.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from cost_model.prices import PriceTable
from cost_model.provisioned import provisioned_cost
from load_tests.client.generator import LoadResult, ReplicaSampler, run_load
from load_tests.client.images import RequestImage
from load_tests.client.records import summarise
from load_tests.client.schedules import Schedule


def run_load_in_child(url: str, images: Sequence[RequestImage], schedule: Schedule, *,
                      max_requests: int, max_seconds: float, timeout_s: float,
                      progress: bool = True, prices: PriceTable | None = None,
                      sampler: ReplicaSampler | None = None,
                      retry_503: bool = False) -> LoadResult:
    """`run_load` in a spawned child process; the sampler runs here, from before the child
    starts to after it returns, and its timeline is costed over the load's own span."""
    prices = prices or PriceTable()
    context = multiprocessing.get_context("spawn")
    if sampler is not None:
        sampler.start()
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            result = pool.submit(
                run_load, url, list(images), schedule, max_requests=max_requests,
                max_seconds=max_seconds, timeout_s=timeout_s, progress=progress,
                retry_503=retry_503).result(timeout=max_seconds + timeout_s + 120.0)
    finally:
        timeline = sampler.stop() if sampler is not None else []
    if sampler is None:
        return result
    # the window ends now, after the load, as run_load's own does
    provisioned = provisioned_cost(timeline, prices, result.started_at_unix, time.time())
    run = {k: getattr(result.summary, k) for k in
           ("url", "schedule", "max_requests", "max_seconds", "timeout_s", "images")}
    summary = summarise(result.records, run=run, prices=prices, provisioned=provisioned)
    return result.model_copy(update={"summary": summary, "replica_timeline": timeline,
                                     "provisioned": provisioned})

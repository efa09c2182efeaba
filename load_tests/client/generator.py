"""Async HTTP load driver: sends real JPEG test images on a schedule and records every answer.

Open-loop schedules send at precomputed arrival times whatever the server does (so queueing
shows up as latency, as it would for real clients); closed-loop keeps N requests in flight.
Every run stops by itself: no send after `max_seconds` or beyond `max_requests`, and every
request is abandoned after `timeout_s`, so a run lasts at most max_seconds + timeout_s.

The client is aiohttp on uvloop (when installed): on a 2-core machine the load generator
shares the CPU with the server, and an httpx client offering 125 req/s used 67% of a core
(so its own event-loop lag showed up as seconds of "server" latency); aiohttp used 8%
(one-off psutil probe, 2026-11-23).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

import aiohttp
from pydantic import BaseModel, ConfigDict
from tqdm import tqdm

from cost_model.prices import PriceTable
from cost_model.provisioned import ProvisionedCost, ReplicaSample, provisioned_cost
from cost_model.summary import RequestCost
from load_tests.client.images import RequestImage
from load_tests.client.records import LoadSummary, RequestRecord, summarise
from load_tests.client.retry import retry_after_s, retry_wait_s
from load_tests.client.schedules import ClosedLoopSchedule, OpenLoopSchedule, Schedule

ERROR_TEXT_LIMIT = 300


class ReplicaSampler(Protocol):
    """Something that records the replica timeline while the load runs (wall-clock times)."""

    def start(self) -> None: ...

    def stop(self) -> list[ReplicaSample]: ...


class LoadResult(BaseModel):
    """All per-request records of a run and their summary."""

    model_config = ConfigDict(extra="forbid")

    summary: LoadSummary
    records: list[RequestRecord]
    replica_timeline: list[ReplicaSample] = []
    provisioned: ProvisionedCost | None = None
    started_at_unix: float


def _parse_prediction(record: dict[str, Any], body: Any, image: RequestImage) -> None:
    """Fill the prediction fields of a 2xx record; raise (Key/Type/Value)Error if malformed."""
    prediction = body["predictions"][0]
    predicted = int(prediction["label"])
    tier = prediction.get("exit_tier") or {}
    cost = prediction.get("cost")
    record.update(
        ok=True,
        predicted=predicted,
        correct=predicted == image.label,
        exit_tier=None if tier.get("name") is None else str(tier["name"]),
        exit_tier_index=None if tier.get("index") is None else int(tier["index"]),
        cost=RequestCost.model_validate(cost) if cost is not None else None,
        degraded=None if prediction.get("degraded") is None else bool(prediction["degraded"]),
        source=prediction.get("source"),
        server_latency_ms=None if prediction.get("latency_ms") is None
        else float(prediction["latency_ms"]),
    )


def _error_text(payload: bytes) -> str:
    try:
        error = json.loads(payload)["error"]
        return f"{error.get('code')}: {error.get('message')}"[:ERROR_TEXT_LIMIT]
    except Exception:  # noqa: BLE001 - any non-JSON body is reported as text
        return payload[:ERROR_TEXT_LIMIT].decode("utf-8", "replace")


async def _exchange(session: aiohttp.ClientSession, url: str, body: bytes,
                    record: dict[str, Any], retry_503: bool) -> tuple[int, bytes]:
    """POST the image. With `retry_503`, do what a well-behaved client does on overload:
    wait (Retry-After, then exponential backoff with jitter) and send again, counting the
    retries in the record. The caller's timeout bounds the whole exchange."""
    rng = random.Random(record["seq"])
    while True:
        async with session.post(url, data=body,
                                headers={"content-type": "image/jpeg"}) as response:
            status, payload = response.status, await response.read()
            wait_s = retry_after_s(response.headers)
        if not retry_503 or status != 503 or wait_s is None:
            return status, payload
        attempt = record.get("retries_after_503", 0)
        record["retries_after_503"] = attempt + 1
        record["shed_reason"] = _error_text(payload)
        await asyncio.sleep(retry_wait_s(wait_s, attempt, rng))


async def _send_one(
    session: aiohttp.ClientSession, url: str, seq: int, image: RequestImage, t0: float,
    timeout_s: float, retry_503: bool = False,
) -> RequestRecord:
    """Send one image; always returns exactly one record, whatever happens."""
    t_send = time.perf_counter() - t0
    record: dict[str, Any] = dict(seq=seq, image_index=image.index, label=image.label,
                                  t_send=t_send)
    start = time.perf_counter()
    try:
        status, payload = await asyncio.wait_for(
            _exchange(session, url, image.body, record, retry_503), timeout_s)
    except (asyncio.TimeoutError, TimeoutError) as exc:
        reason = f"timeout after {timeout_s:g}s ({type(exc).__name__})"
        record.update(outcome="timeout", error=reason)
    except Exception as exc:  # noqa: BLE001 - every failure must still become a record
        record.update(outcome="error", error=f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_LIMIT])
    else:
        record.update(outcome="answered", status=status)
        if 200 <= status < 300:
            try:
                _parse_prediction(record, json.loads(payload), image)
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                record.update(ok=False, error=f"bad response body: {type(exc).__name__}: {exc}"
                              [:ERROR_TEXT_LIMIT])
        else:
            record["error"] = _error_text(payload)
    record["latency_s"] = time.perf_counter() - start
    return RequestRecord(**record)


async def _run_open_loop(session, url, images, schedule: OpenLoopSchedule, max_requests,
                         max_seconds, timeout_s, bar, retry_503) -> list[RequestRecord]:
    arrivals = schedule.arrival_times(min(max_seconds, schedule.duration_s), max_requests)
    bar.reset(total=len(arrivals))
    t0 = time.perf_counter()
    tasks: list[asyncio.Task[RequestRecord]] = []
    for seq, offset in enumerate(arrivals):
        delay = t0 + float(offset) - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(
            _send_one(session, url, seq, images[seq % len(images)], t0, timeout_s, retry_503)
        )
        task.add_done_callback(lambda _: bar.update(1))
        tasks.append(task)
    return list(await asyncio.gather(*tasks))


async def _run_closed_loop(session, url, images, schedule: ClosedLoopSchedule, max_requests,
                           max_seconds, timeout_s, bar, retry_503) -> list[RequestRecord]:
    t0 = time.perf_counter()
    counter = itertools.count()
    records: list[RequestRecord] = []

    async def user() -> None:
        while time.perf_counter() - t0 < max_seconds:
            seq = next(counter)
            if seq >= max_requests:
                return
            records.append(
                await _send_one(session, url, seq, images[seq % len(images)], t0, timeout_s,
                                retry_503)
            )
            bar.update(1)

    await asyncio.gather(*(user() for _ in range(schedule.concurrency)))
    return sorted(records, key=lambda r: r.seq)


async def run_load_async(
    url: str,
    images: Sequence[RequestImage],
    schedule: Schedule,
    *,
    max_requests: int,
    max_seconds: float,
    timeout_s: float,
    progress: bool = True,
    prices: PriceTable | None = None,
    sampler: ReplicaSampler | None = None,
    retry_503: bool = False,
) -> LoadResult:
    """Drive `url` with `schedule`; see `run_load`."""
    if not images:
        raise ValueError("no request images given")
    if max_requests < 1 or max_seconds <= 0 or timeout_s <= 0:
        raise ValueError(
            "max_requests must be >= 1 and max_seconds, timeout_s > 0 "
            f"(got {max_requests}, {max_seconds}, {timeout_s})"
        )
    prices = prices or PriceTable()
    in_flight = schedule.concurrency if isinstance(schedule, ClosedLoopSchedule) else 1024
    started = time.time()
    if sampler is not None:
        sampler.start()
    try:
        with tqdm(total=max_requests, desc=f"load {schedule.spec}", unit="req",
                  disable=not progress) as bar:
            connector = aiohttp.TCPConnector(limit=in_flight, limit_per_host=in_flight)
            timeout = aiohttp.ClientTimeout(total=None)  # per request: asyncio.wait_for
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                args = (session, url, images, schedule, max_requests, max_seconds, timeout_s, bar,
                        retry_503)
                if isinstance(schedule, ClosedLoopSchedule):
                    records = await _run_closed_loop(*args)
                else:
                    records = await _run_open_loop(*args)
    finally:
        timeline = sampler.stop() if sampler is not None else []
    finished = time.time()
    provisioned = (
        provisioned_cost(timeline, prices, started, finished) if sampler is not None else None
    )
    run = dict(url=url, schedule=schedule.spec, max_requests=max_requests,
               max_seconds=max_seconds, timeout_s=timeout_s, images=len(images))
    summary = summarise(records, run=run, prices=prices, provisioned=provisioned)
    return LoadResult(summary=summary, records=records, replica_timeline=timeline,
                      provisioned=provisioned, started_at_unix=started)


def run_load(
    url: str,
    images: Sequence[RequestImage],
    schedule: Schedule,
    *,
    max_requests: int,
    max_seconds: float,
    timeout_s: float,
    progress: bool = True,
    prices: PriceTable | None = None,
    sampler: ReplicaSampler | None = None,
    retry_503: bool = False,
) -> LoadResult:
    """Run a bounded load test against `url` and return every record plus a summary.

    Works from plain code and from inside a running event loop (it then runs in a thread).
    With `retry_503` a 503 carrying Retry-After is waited out and re-sent, within timeout_s.
    """
    coroutine_args = dict(max_requests=max_requests, max_seconds=max_seconds,
                          timeout_s=timeout_s, progress=progress, prices=prices, sampler=sampler,
                          retry_503=retry_503)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_fast(run_load_async(url, images, schedule, **coroutine_args))
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = _run_fast(run_load_async(url, images, schedule, **coroutine_args))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="coe-load", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


def _run_fast(coroutine):
    """asyncio.run on uvloop when it is installed (it is, with ray[serve]); else plain."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)

"""Turn Ray Serve deployment handles into the runner's member callers.

A caller awaits one `classify` call; if the runner cancels it (outcome already decided,
deadline, timeout, client gone) the DeploymentResponse is cancelled too, so the replica
stops. A call whose replica died under it is re-sent (the router picks a live replica or
waits for Serve to restore one), so a replica kill costs latency, not an answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import numpy as np

from serve_app.member_result import MemberResult
from serve_app.runner import MemberCaller


def replica_lost(exc: BaseException) -> bool:
    """True when the call failed because its replica died or became unreachable."""
    from ray.exceptions import ActorUnavailableError, RayActorError

    return isinstance(exc, RayActorError | ActorUnavailableError)


def handle_caller(handle, method: str = "classify", retries: int = 1) -> MemberCaller:
    """An async caller over `handle.<method>` (the method handle is created once)."""
    bound = getattr(handle, method)

    async def call(image: np.ndarray) -> MemberResult:
        attempt = 0
        sent = time.time()  # the first send: a re-sent call's lost time is in its first hop
        while True:
            response = bound.remote(image)
            try:
                return stamped(await response, sent)
            except asyncio.CancelledError:
                response.cancel()
                raise
            except Exception as exc:
                if attempt >= retries or not replica_lost(exc):
                    raise
                attempt += 1

    return call


def local_caller(member) -> MemberCaller:
    """A caller over a member object living in this process (colocated first tier).

    Cancelling the caller cancels the @serve.batch future: a queued image leaves the batch.
    """

    async def call(image: np.ndarray) -> MemberResult:
        sent = time.time()
        return stamped(await member.classify(image), sent)

    return call


def stamped(result: MemberResult, sent: float) -> MemberResult:
    """`result` with the caller's send and receive times (serve_app.call_anatomy)."""
    if not isinstance(result, MemberResult):
        return result
    return dataclasses.replace(result, sent_at=sent, received_at=time.time())

"""Turn Ray Serve deployment handles into the runner's member callers.

A caller awaits one `classify` call; if the runner cancels it (outcome already decided,
deadline, timeout, client gone) the DeploymentResponse is cancelled too, so the replica
stops. A call whose replica died under it is re-sent (the router picks a live replica or
waits for Serve to restore one), so a replica kill costs latency, not an answer.
"""

from __future__ import annotations

import asyncio

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
        while True:
            response = bound.remote(image)
            try:
                return await response
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
        return await member.classify(image)

    return call

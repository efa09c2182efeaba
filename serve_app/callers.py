"""Turn Ray Serve deployment handles into the runner's member callers.

A caller awaits one `classify` call; if the runner cancels it (outcome already decided,
timeout, client gone) the DeploymentResponse is cancelled too, so the replica stops.
"""

from __future__ import annotations

import asyncio

import numpy as np

from serve_app.member_result import MemberResult
from serve_app.runner import MemberCaller


def handle_caller(handle, method: str = "classify") -> MemberCaller:
    """An async caller over `handle.<method>` (the method handle is created once)."""
    bound = getattr(handle, method)

    async def call(image: np.ndarray) -> MemberResult:
        response = bound.remote(image)
        try:
            return await response
        except asyncio.CancelledError:
            response.cancel()
            raise

    return call

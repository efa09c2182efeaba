"""Group the protected tier's single images into collages (ingress side, plain asyncio).

Images submitted within `window_s` of the first one in a group are tiled into one s x s
collage (zoo.collage_grid); a group is sent as soon as it has s^2 images, or when the
window ends with fewer (a partial collage, empty cells padded). Each submitted image gets
a future of its own cell's answer. With `only_waiting`, groups leave at the window's end,
not when full, and an image whose members all answered before then is withdrawn
(`withdraw`): only images still waiting are tiled. At most `max_inflight` collages are in
flight: a group beyond that is shed (its futures fail with BackupShed and the members
answer alone), since a backup that queues behind a saturated cluster only adds load. No
Ray here: the collage call is any async function, so unit tests pass a fake.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from zoo.collage_grid import build_collage, cells, fit_cell


@dataclass(frozen=True)
class CollageAnswer:
    """Per-cell probabilities (filled, C) of one collage and what the pass cost."""

    probs: np.ndarray
    filled: int
    device_seconds: float
    cpu_seconds: float
    emulated: bool


CollageCall = Callable[[np.ndarray, int], Awaitable[CollageAnswer]]


class BackupShed(RuntimeError):
    """No collage for this image: too many collages were already in flight."""


@dataclass(frozen=True)
class CellAnswer:
    """The collage CNN's output for one image, and its share of the collage's cost."""

    probs: np.ndarray
    filled: int
    device_seconds: float  # the collage's device time / filled cells
    cpu_seconds: float
    emulated: bool


class CollageBatcher:
    """Tiles submitted images into collages and fans the cell answers back out."""

    def __init__(
        self,
        call: CollageCall,
        grid: int = 2,
        window_s: float = 0.02,
        on_collage: Callable[[CollageAnswer], None] | None = None,
        max_inflight: int = 8,
        on_shed: Callable[[int], None] | None = None,
        window_for: Callable[[float | None], float] | None = None,
        only_waiting: bool = False,
    ) -> None:
        if max_inflight < 1:
            raise ValueError("max_inflight_collages must be >= 1")
        self.call = call
        self.grid = grid
        self.capacity = cells(grid)
        self.window_s = window_s
        # the window from the collage call's recent median (None before the first): e.g.
        # ready by the straggler timeout; None = always window_s
        self.window_for = window_for
        self.call_seconds: deque[float] = deque(maxlen=64)  # recent collage call times
        self.on_collage = on_collage  # told about every answered collage (billing)
        self.max_inflight = max_inflight
        self.on_shed = on_shed  # told the image count of every shed group
        self.only_waiting = only_waiting  # send at the window's end; answered images leave
        self._pending: list[tuple[np.ndarray, asyncio.Future]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task] = set()

    def submit(self, image: np.ndarray) -> asyncio.Future:
        """A future of `image`'s CellAnswer; the collage is sent when full or on the window."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((fit_cell(image), future))
        if not self.only_waiting and len(self._pending) >= self.capacity:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.current_window_s(), self._flush)
        return future

    def withdraw(self, future: asyncio.Future) -> bool:
        """Take a not-yet-sent image out of its group (its answer is no longer needed).

        True if it was still waiting; its future is cancelled. A sent image stays in its
        collage (the pass runs and is billed whole either way); without `only_waiting`
        every image is backed up and nothing is withdrawn."""
        if not self.only_waiting:
            return False
        kept = [entry for entry in self._pending if entry[1] is not future]
        if len(kept) == len(self._pending):
            return False
        self._pending = kept
        future.cancel()
        if not kept and self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return True

    def call_median_s(self) -> float | None:
        """The median time of the recent collage calls (sent to answered), None before one."""
        return statistics.median(self.call_seconds) if self.call_seconds else None

    def current_window_s(self) -> float:
        """How long a group started now may wait to fill."""
        if self.window_for is None:
            return self.window_s
        return self.window_for(self.call_median_s())

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            group, self._pending = self._pending[: self.capacity], self._pending[self.capacity :]
            if len(self._sending) >= self.max_inflight:
                self._shed(group)
                continue
            task = asyncio.ensure_future(self._send(group))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    def _shed(self, group: list[tuple[np.ndarray, asyncio.Future]]) -> None:
        shed = BackupShed(f"{len(self._sending)} collages in flight (max_inflight_collages="
                          f"{self.max_inflight}): no backup for these images")
        for _, future in group:
            if not future.done():
                future.set_exception(shed)
                future.exception()  # retrieved: the shield simply waits for the member
        if self.on_shed is not None:
            self.on_shed(len(group))

    async def _send(self, group: list[tuple[np.ndarray, asyncio.Future]]) -> None:
        images = np.stack([image for image, _ in group])
        filled = len(group)
        started = time.perf_counter()
        try:
            answer = await self.call(build_collage(images, self.grid), filled)
            self.call_seconds.append(time.perf_counter() - started)
        except BaseException as exc:  # noqa: BLE001 - every waiter must learn of it
            for _, future in group:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else
                                         RuntimeError("collage call cancelled"))
                    future.exception()  # retrieved: no "never retrieved" warning
            if not isinstance(exc, Exception):
                raise
            return
        if self.on_collage is not None:
            self.on_collage(answer)
        share = answer.device_seconds / filled
        for index, (_, future) in enumerate(group):
            if not future.done():
                future.set_result(CellAnswer(
                    probs=np.asarray(answer.probs[index], dtype=np.float32), filled=filled,
                    device_seconds=share, cpu_seconds=answer.cpu_seconds / filled,
                    emulated=answer.emulated,
                ))

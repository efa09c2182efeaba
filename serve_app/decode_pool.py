"""Bounded decode work for the ingress: a small thread pool and a per-request pixel budget.

Decoding a PNG costs time in proportion to its pixels, not its compressed bytes (a 58 KB
PNG can hold 16.7 Mpx). So every image's size is read from its header first (no pixel
decoded), the request is refused with a 413 when one image or the sum is over budget, and
the decoding itself always runs on this pool: the event loop (health checks, other
requests) never waits on a decoder. The pool is created on first use, not at import.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from serve_app.decode import InputError, decode_base64, image_size

T = TypeVar("T")


class DecodePool:
    """At most `threads` decodes at a time per ingress replica; the rest wait their turn."""

    def __init__(self, threads: int) -> None:
        if threads < 1:
            raise ValueError("decode threads must be >= 1")
        self.threads = threads
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="coe-decode")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))


def read_headers(
    items: list[bytes | str], formats: tuple[str, ...], from_base64: bool
) -> list[tuple[bytes, tuple[int, int]]]:
    """Each item's bytes (base64-decoded if `from_base64`) and (width, height) from its
    header. Cheap: nothing is decoded; runs on the pool because a request has many."""
    out = []
    for index, item in enumerate(items):
        where = f"images[{index}]" if from_base64 else "image"
        data = decode_base64(item, index) if from_base64 else item
        out.append((data, image_size(data, where, formats)))
    return out


def check_pixel_budget(
    sizes: list[tuple[int, int]], max_pixels: int, max_request_pixels: int, from_json: bool
) -> int:
    """Total pixels of a request; a 413 InputError if one image or the sum is over budget."""
    total = 0
    for index, (width, height) in enumerate(sizes):
        where = f"images[{index}]" if from_json else "image"
        pixels = width * height
        if pixels > max_pixels:
            raise InputError(
                "image_too_large",
                f"{where}: {width}x{height} = {pixels} pixels exceeds max_pixels={max_pixels}",
                status=413,
            )
        total += pixels
    if total > max_request_pixels:
        raise InputError(
            "request_too_large",
            f"images: {total} pixels in this request exceed "
            f"max_request_pixels={max_request_pixels}",
            status=413,
        )
    return total

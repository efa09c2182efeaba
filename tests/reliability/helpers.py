"""Painting helpers for the reliability tests (stand-in votes + injected member failures)."""

from __future__ import annotations

import io

from PIL import Image

from tests.fixtures.faulty import FAIL_RED, fail_column
from tests.fixtures.standin import paint

PNG = {"content-type": "image/png"}


def png(votes: list[int], fail: tuple[int, ...] = ()) -> bytes:
    """PNG on which stand-in member j votes votes[j] and flaky member j fails if j in fail."""
    image = paint(votes)
    for j in fail:
        image[0, fail_column(j), 0] = FAIL_RED
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()

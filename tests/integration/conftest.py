"""The integration layer runs on the session's one Ray + Serve (tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_serve(shared_ray_serve):
    """The session's shared Ray + Serve (tests/conftest.py); yields Serve's base URL."""
    return shared_ray_serve

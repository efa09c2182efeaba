"""Which machine measured something: profiles and calibrations only hold on their own host."""

from __future__ import annotations

import hashlib
import platform
import socket


def host_key() -> str:
    """A short stable id of this host (name, architecture, processor)."""
    raw = f"{socket.gethostname()}|{platform.machine()}|{platform.processor()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:12]

"""Where assets (datasets, weights) and caches live.

Assets are read-only inputs found the way torchvision finds a dataset root: an
environment variable (`COE_ASSETS`) with a fallback to `../shared` beside the
repository. Nothing is ever copied from there into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


class AssetNotFoundError(FileNotFoundError):
    """A dataset or weights file is missing; the message says where and what to put there."""


def assets_root() -> Path:
    """The assets root: `$COE_ASSETS`, else `../shared` beside the repository root."""
    env = os.environ.get("COE_ASSETS")
    if env:
        return Path(env).expanduser()
    return REPO_ROOT.parent / "shared"


def cache_root() -> Path:
    """Writable cache for trained weights, decoded datasets and predictions (`$COE_CACHE`)."""
    env = os.environ.get("COE_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "coe"
    root.mkdir(parents=True, exist_ok=True)
    return root


def require_asset(relative: str | Path, hint: str = "") -> Path:
    """Return `assets_root()/relative`, or raise an error naming the missing path and the fix."""
    path = assets_root() / relative
    if path.exists():
        return path
    message = (
        f"asset not found: {path} (assets root {assets_root()}, set COE_ASSETS to change it)."
    )
    if hint:
        message += f" {hint}"
    raise AssetNotFoundError(message)

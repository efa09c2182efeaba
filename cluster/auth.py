"""Ray token authentication for our clusters, handled so users never see InvalidAuthToken.

Ray 2.60 enables token auth when `RAY_AUTH_MODE=token` (or when `ray start --head` finds
~/.ray/auth_token). Every node, driver and CLI call must then present the same token, read
from `RAY_AUTH_TOKEN_PATH` (or `RAY_AUTH_TOKEN`, or ~/.ray/auth_token). Each cluster gets its
own token file so another Ray on the same machine rewriting ~/.ray/auth_token cannot lock
us out, and the environment below is passed to every process that talks to the cluster.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

AUTH_MODE_ENV = "RAY_AUTH_MODE"
TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"
TOKEN_ENV = "RAY_AUTH_TOKEN"


def ensure_token(path: Path) -> Path:
    """Create a 256-bit token file (mode 0600) if it does not exist yet; return its path."""
    if path.is_file() and path.read_text().strip():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_hex(32))  # what `ray get-auth-token --generate` writes
    return path


def auth_env(token_path: Path | str | None) -> dict[str, str]:
    """The variables that make Ray use token auth with our token file."""
    env = {AUTH_MODE_ENV: "token"}
    if token_path is not None:
        env[TOKEN_PATH_ENV] = str(token_path)
    return env


def with_auth(base: dict[str, str], token_path: Path | str | None) -> dict[str, str]:
    """`base` plus auth variables; a stray RAY_AUTH_TOKEN would override our file, so drop it."""
    env = dict(base)
    if token_path is not None:
        env.pop(TOKEN_ENV, None)
    env.update(auth_env(token_path))
    return env


def apply_to_this_process(token_path: Path | str) -> None:
    """Put the auth variables in os.environ and make an already imported Ray re-read them.

    Ray caches its config (including the auth mode) when `ray` is first imported, so a
    caller that imported ray before connecting would still run with auth disabled and get
    InvalidAuthToken. Refreshing the config and the token cache is what Ray itself does
    when it turns token auth on (authentication_token_setup._enable_token_auth).
    """
    os.environ.pop(TOKEN_ENV, None)
    os.environ.update(auth_env(token_path))
    if "ray" not in sys.modules:
        return
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:  # a Ray without token auth: nothing cached to refresh
        return
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()

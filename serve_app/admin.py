"""Admin authentication: a bearer token checked in constant time, never stored in clear.

The app builder reads the token from COE_ADMIN_TOKEN in the driver and hands the ingress
only its SHA-256 digest, so the token itself is never in a deployment config, an actor
argument, a log line or a status page. No token configured -> the admin API does not exist.
`admin_dependency` makes the check a FastAPI dependency, so admin routes hold no auth code.
No `from __future__ import annotations` here: FastAPI must see real annotation objects.
"""

import hashlib
import hmac
import os
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

ADMIN_TOKEN_ENV = "COE_ADMIN_TOKEN"

# auto_error=False: a missing or non-Bearer header reaches our check, which answers it
# with the API's own error body instead of FastAPI's default.
bearer_scheme = HTTPBearer(
    auto_error=False, description=f"the admin token (the driver's {ADMIN_TOKEN_ENV})"
)


class AdminAuthError(Exception):
    """Why an admin request is refused; `status` is 401, 403 or 404."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def digest_from_env(env_var: str = ADMIN_TOKEN_ENV) -> str | None:
    """Digest of the admin token in `env_var`, or None if it is unset or empty."""
    token = os.environ.get(env_var, "")
    return token_digest(token) if token else None


def digest_from_file(path) -> str | None:
    """Digest of the token on the first line of `path`; an unreadable or empty file is an
    error (a token file was named: running without one would be a silent surprise)."""
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.readline().strip()
    except OSError as exc:
        raise ValueError(f"admin_token_file {str(path)!r} cannot be read: {exc}") from None
    if not token:
        raise ValueError(f"admin_token_file {str(path)!r} is empty")
    return token_digest(token)


def check_bearer(token: str | None, header_sent: bool, expected_digest: str | None) -> None:
    """Raise AdminAuthError unless `token` (the Bearer credentials, None if the header was
    absent or not `Bearer <token>`) is the configured token."""
    if not expected_digest:
        raise AdminAuthError(404, "not_found", "Not Found")
    if token is None:
        if not header_sent:
            raise AdminAuthError(
                401, "unauthorized", "missing Authorization: Bearer <token> header"
            )
        raise AdminAuthError(401, "unauthorized", "Authorization must be 'Bearer <token>'")
    if not hmac.compare_digest(token_digest(token), expected_digest):
        raise AdminAuthError(403, "forbidden", "the admin token is not valid")


def admin_dependency(
    configured_digest: Callable[[], Awaitable[str | None]],
) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency that lets a request through only with the admin token.

    `configured_digest` is itself a dependency: it gives the digest this server was
    started with (None: admin API off, every admin request is a 404).
    """

    async def require_admin(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
        digest: Annotated[str | None, Depends(configured_digest)],
    ) -> None:
        token = credentials.credentials if credentials is not None else None
        check_bearer(token, bool(request.headers.get("authorization")), digest)

    return require_admin

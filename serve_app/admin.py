"""Admin authentication: a bearer token checked in constant time, never stored in clear.

The app builder reads the token from COE_ADMIN_TOKEN in the driver and hands the ingress
only its SHA-256 digest, so the token itself is never in a deployment config, an actor
argument, a log line or a status page. No token configured -> the admin API does not exist.
"""

from __future__ import annotations

import hashlib
import hmac
import os

ADMIN_TOKEN_ENV = "COE_ADMIN_TOKEN"


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


def check_bearer(authorization: str | None, expected_digest: str | None) -> None:
    """Raise AdminAuthError unless `authorization` is `Bearer <the configured token>`."""
    if not expected_digest:
        raise AdminAuthError(404, "not_found", "Not Found")
    if not authorization:
        raise AdminAuthError(401, "unauthorized", "missing Authorization: Bearer <token> header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AdminAuthError(401, "unauthorized", "Authorization must be 'Bearer <token>'")
    if not hmac.compare_digest(token_digest(token.strip()), expected_digest):
        raise AdminAuthError(403, "forbidden", "the admin token is not valid")

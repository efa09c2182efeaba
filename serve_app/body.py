"""What a classify request sends, read safely: size limits, content type, decoding.

Kept apart from the routes so serve_app.ingress holds routes only. Every client mistake
raises `InputError` (a named 4xx); the ingress's one exception handler answers it.
"""

import math
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
from fastapi import Request
from pydantic import BaseModel, ValidationError

from cascade.config import IngressConfig
from serve_app.decode import InputError, decode_image
from serve_app.decode_pool import DecodePool, check_pixel_budget, read_headers
from serve_app.schemas import ClassifyRequest

CONTENT_TYPES = {"JPEG": ("image/jpeg", "image/jpg"), "PNG": ("image/png",)}
JSON_TYPES = {"application/json"}

Model = TypeVar("Model", bound=BaseModel)


def describe_validation(errors) -> str:
    """The first pydantic errors as `field.path: message; ...` (the body's own fields)."""
    parts = []
    for error in errors[:5]:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def parse_json(body: bytes, model: type[Model], code: str) -> Model:
    """`body` validated as `model`; a 422 InputError with `code` naming the bad fields."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise InputError(code, describe_validation(exc.errors()), status=422) from None


async def read_body(request: Request, limit: int, too_large: str | None = None) -> bytes:
    """The whole body, refused with a 413 as soon as it is known to exceed `limit` bytes
    (declared Content-Length first, then while streaming); `too_large` is its message."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        message = too_large or f"body of {declared} bytes exceeds max_body_bytes={limit}"
        raise InputError("body_too_large", message, 413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise InputError(
                "body_too_large", too_large or f"body exceeds max_body_bytes={limit}", 413
            )
    return bytes(body)


class ClassifyReader:
    """Turns a POST /v1/classify request into decoded images under the ingress limits.

    Built once per replica: the accepted content types follow `allowed_formats`.
    """

    def __init__(self, limits: IngressConfig) -> None:
        self.limits = limits
        self.formats = tuple(limits.allowed_formats)
        self.image_types = {t for f in self.formats for t in CONTENT_TYPES[f]}
        self.pool = DecodePool(limits.decode_threads)

    def deadline_s(self, request: Request) -> float | None:
        """This request's deadline in seconds: the header if given, else the config's."""
        header = self.limits.deadline_header
        raw = request.headers.get(header)
        if raw is None:
            default = self.limits.deadline_ms
            return None if default is None else default / 1000.0
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        cap = self.limits.max_deadline_ms
        if not (math.isfinite(value) and 0 < value <= cap):
            raise InputError(
                "bad_deadline",
                f"header {header}: {raw[:40]!r} is not a number of ms in (0, {cap:g}]",
            )
        return value / 1000.0

    async def images(
        self,
        request: Request,
        deadline_at: float | None = None,
        admit: Callable[[int], None] | None = None,
    ) -> list[np.ndarray]:
        """One image from a JPEG/PNG body, or one per entry of a JSON ClassifyRequest.

        Headers are read and the pixel budget checked before any pixel is decoded; then
        `admit(count)` (the ingress's image budget) may refuse; then each image decodes
        on the bounded pool, with `deadline_at` (a perf_counter time) checked between.
        """
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in self.image_types and content_type not in JSON_TYPES:
            accepted = ", ".join(sorted(self.image_types))
            raise InputError(
                "unsupported_media_type",
                f"content type {content_type or '(none)'!r} not supported; send {accepted} "
                'or application/json {"images": [<base64>...]}',
                status=415,
            )
        body = await read_body(request, self.limits.max_body_bytes)
        if not body:
            raise InputError("empty_body", "the request body is empty")
        from_json = content_type not in self.image_types
        items: list = [body]
        if from_json:
            items = parse_json(body, ClassifyRequest, "invalid_request").images
            limit = self.limits.max_images_per_request
            if len(items) > limit:
                raise InputError(
                    "too_many_images",
                    f"images: {len(items)} images sent, max_images_per_request is {limit}",
                    status=413,
                )
        headers = await self.pool.run(read_headers, items, self.formats, from_json)
        check_pixel_budget([size for _, size in headers], self.limits.max_pixels,
                           self.limits.max_request_pixels, from_json)
        if admit is not None:
            admit(len(headers))
        decoded = []
        for index, (data, _) in enumerate(headers):
            if deadline_at is not None and time.perf_counter() >= deadline_at:
                raise InputError(
                    "deadline_exceeded",
                    f"the request's deadline expired while decoding ({index} of "
                    f"{len(headers)} images decoded)",
                    status=504,
                )
            decoded.append(await self.decode(data, f"images[{index}]" if from_json else "image"))
        return decoded

    async def decode(self, data: bytes, where: str) -> np.ndarray:
        """Decode one image on the bounded pool (never on the event loop), at its native
        size: each member fits it to its own input size (serve_app.member)."""
        return await self.pool.run(
            decode_image, data, max_pixels=self.limits.max_pixels, where=where,
            formats=self.formats, size=None,
        )

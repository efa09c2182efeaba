"""The HTTP ingress (CPU-only): decode once, run the cascade, answer with trace and cost.

Routes: POST /v1/classify, GET /v1/cascade, GET /v1/stats, GET /healthz. Every client
error is a 4xx JSON body `{"error": {"code", "message"}}`; a 5xx only when the server fails.
Everything the hot path needs (runner, handles, callers) is built once in __init__.
No `from __future__ import annotations` here: FastAPI must see real annotation objects.
"""


import asyncio
import logging
import time

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from ray import serve
from starlette.exceptions import HTTPException as StarletteHTTPException

from serve_app.decode import InputError, decode_base64, decode_image
from serve_app.runner import ImageOutcome
from serve_app.schemas import ClassifyRequest

logger = logging.getLogger("ray.serve")

IMAGE_TYPES = {"image/jpeg", "image/jpg", "image/png"}
JSON_TYPES = {"application/json"}
DECODE_IN_THREAD_BYTES = 256 * 1024  # big uploads decode off the event loop

fastapi_app = FastAPI(title="coe-serve", description="Cascades of ensembles on Ray Serve")


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}})


@fastapi_app.exception_handler(InputError)
async def _input_error(_request: Request, exc: InputError) -> JSONResponse:
    return error_response(exc.status, exc.code, exc.message)


@fastapi_app.exception_handler(RequestValidationError)
async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(422, "invalid_request", _describe_validation(exc.errors()))


@fastapi_app.exception_handler(StarletteHTTPException)
async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


def _describe_validation(errors) -> str:
    parts = []
    for error in errors[:5]:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


@serve.deployment
@serve.ingress(fastapi_app)
class CascadeIngress:
    """Owns the runner, the live stats and the metrics of one cascade application."""

    def __init__(self, config: dict, member_handles: dict, catalog_path: str | None = None):
        from cluster.catalog import load_catalog
        from cost_model.record import prices_per_second
        from serve_app.callers import handle_caller
        from serve_app.config import parse_cascade
        from serve_app.metrics import CascadeMetrics
        from serve_app.runner import CascadeRunner, build_tier_plans
        from serve_app.stats import StatsAggregator

        self.config = parse_cascade(config, check_models=False, catalog=catalog_path)
        self._config_json = self.config.model_dump(mode="json")
        missing = [
            self.config.deployment_name(t, m)
            for t in self.config.tiers
            for m in t.members
            if self.config.deployment_name(t, m) not in member_handles
        ]
        if missing:
            raise ValueError(f"no deployment handle for members: {', '.join(missing)}")
        catalog = load_catalog(catalog_path)
        plans = build_tier_plans(self.config, lambda name: handle_caller(member_handles[name]))
        self.runner = CascadeRunner(
            plans,
            num_classes=self.config.num_classes,
            price_per_second=prices_per_second(catalog),
            member_timeout_s=self.config.ingress.member_timeout_s,
        )
        self.limits = self.config.ingress
        self.stats = StatsAggregator([(t.name, t.gpu_class) for t in self.config.tiers])
        self.metrics = CascadeMetrics()
        self._class_names = [self.config.class_name(i) for i in range(self.config.num_classes)]

    @fastapi_app.post("/v1/classify")
    async def classify(self, request: Request) -> JSONResponse:
        start = time.perf_counter()
        try:
            images = await self._read_images(request)
            outcomes = await self.runner.run(images)
            response = self._predictions(outcomes)
        except InputError as exc:
            response = error_response(exc.status, exc.code, exc.message)
        except Exception:  # a server bug, not the client's fault: 500 with a JSON body
            logger.exception("classify failed")
            response = error_response(500, "internal_error", "the cascade failed; see server logs")
        else:
            if response.status_code == 200:
                self.stats.record_outcomes(outcomes)
                self.metrics.record_outcomes(outcomes)
        latency_ms = (time.perf_counter() - start) * 1000.0
        self.stats.record_response(response.status_code, latency_ms)
        self.metrics.record_response(response.status_code, latency_ms)
        return response

    @fastapi_app.get("/v1/cascade")
    async def cascade(self) -> dict:
        return self._config_json

    @fastapi_app.get("/v1/stats")
    async def stats_view(self) -> dict:
        return self.stats.snapshot().model_dump(mode="json")

    @fastapi_app.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok", "cascade": self.config.name, "tiers": len(self.config.tiers)}

    async def _read_images(self, request: Request) -> list[np.ndarray]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in IMAGE_TYPES and content_type not in JSON_TYPES:
            raise InputError(
                "unsupported_media_type",
                f"content type {content_type or '(none)'!r} not supported; send image/jpeg, "
                'image/png or application/json {"images": [<base64>...]}',
                status=415,
            )
        body = await self._read_body(request)
        if not body:
            raise InputError("empty_body", "the request body is empty")
        if content_type in IMAGE_TYPES:
            return [await self._decode(body, "image")]
        try:
            parsed = ClassifyRequest.model_validate_json(body)
        except ValidationError as exc:
            raise InputError(
                "invalid_request", _describe_validation(exc.errors()), status=422
            ) from None
        limit = self.limits.max_images_per_request
        if len(parsed.images) > limit:
            raise InputError(
                "too_many_images",
                f"images: {len(parsed.images)} images sent, max_images_per_request is {limit}",
                status=413,
            )
        return [
            await self._decode(decode_base64(text, i), f"images[{i}]")
            for i, text in enumerate(parsed.images)
        ]

    async def _read_body(self, request: Request) -> bytes:
        limit = self.limits.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise InputError(
                "body_too_large", f"body of {declared} bytes exceeds max_body_bytes={limit}", 413
            )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise InputError("body_too_large", f"body exceeds max_body_bytes={limit}", 413)
        return bytes(body)

    async def _decode(self, data: bytes, where: str) -> np.ndarray:
        kwargs = {"max_pixels": self.limits.max_pixels, "where": where}
        if len(data) > DECODE_IN_THREAD_BYTES:
            return await asyncio.to_thread(decode_image, data, **kwargs)
        return decode_image(data, **kwargs)

    def _predictions(self, outcomes: list[ImageOutcome]) -> JSONResponse:
        failed = [i for i, o in enumerate(outcomes) if o.label is None]
        if failed:
            reasons = "; ".join(outcomes[failed[0]].reasons)
            return error_response(
                503, "cascade_unavailable", f"no tier answered image(s) {failed}: {reasons}"
            )
        predictions = [
            {
                "label": o.label,
                "class_name": self._class_names[o.label],
                "confidence": o.confidence,
                "exit_tier": {"name": o.exit_tier, "index": o.exit_index},
                "tiers": [vars(t) for t in o.tiers],
                "latency_ms": o.latency_ms,
                "cost": o.cost.model_dump(mode="json"),
                "degraded": o.degraded,
                "reason": "; ".join(o.reasons) if o.reasons else None,
            }
            for o in outcomes
        ]
        return JSONResponse(content={"predictions": predictions})

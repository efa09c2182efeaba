"""The HTTP ingress (CPU-only): decode once, run the cascade, answer with trace and cost.

Routes: POST /v1/classify, GET /v1/cascade, GET /v1/stats, GET /healthz and the admin
PUT /v1/cascade/policy. Every client error is a 4xx JSON body `{"error": {"code",
"message"}}`; a 5xx only when the server fails (503 + Retry-After when no tier can answer,
504 when the request's deadline expires and `on_deadline` is `error`). Everything the hot
path needs (runner, handles, callers) is built once in __init__; exit thresholds are the
replica's Serve `user_config`, applied by `reconfigure` without a restart.
No `from __future__ import annotations` here: FastAPI must see real annotation objects.
"""


import asyncio
import dataclasses
import logging
import math
import time

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from ray import serve
from starlette.exceptions import HTTPException as StarletteHTTPException

from serve_app.admin import AdminAuthError, check_bearer
from serve_app.decode import InputError, decode_base64, decode_image
from serve_app.runner import ImageOutcome
from serve_app.schemas import ClassifyRequest, PolicyUpdate

logger = logging.getLogger("ray.serve")

CONTENT_TYPES = {"JPEG": ("image/jpeg", "image/jpg"), "PNG": ("image/png",)}
JSON_TYPES = {"application/json"}
DECODE_IN_THREAD_BYTES = 256 * 1024  # big uploads decode off the event loop
ADMIN_BODY_LIMIT = 64 * 1024

fastapi_app = FastAPI(title="coe-serve", description="Cascades of ensembles on Ray Serve")


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": {"code": code, "message": message}},
        headers=headers,
    )


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(0, math.ceil(seconds)))}


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

    def __init__(
        self,
        config: dict,
        member_handles: dict,
        catalog_path: str | None = None,
        admin_token_sha256: str | None = None,
        local_members: list[dict] | None = None,
    ):
        from cascade.config import parse_cascade
        from cost_model.catalog import load_catalog
        from cost_model.device_time import DeviceClock
        from serve_app.callers import handle_caller, local_caller
        from serve_app.member import MemberDeployment
        from serve_app.metrics import CascadeMetrics
        from serve_app.runner import CascadeRunner, build_tier_plans
        from serve_app.stats import StatsAggregator

        self.config = parse_cascade(config, check_models=False, catalog=catalog_path)
        self._config_json = self.config.model_dump(mode="json")
        # colocate_first_tier: the first tier's members live in this process
        self.local_members = {
            m["name"]: MemberDeployment.func_or_class(
                m["spec"], m["tier"], m["member"], m["gpu_class"], m["max_batch_size"],
                m["batch_wait_timeout_s"], m["catalog"])
            for m in local_members or []
        }
        missing = [
            self.config.deployment_name(t, m)
            for t in self.config.tiers
            for m in t.members
            if self.config.deployment_name(t, m) not in member_handles
            and self.config.deployment_name(t, m) not in self.local_members
        ]
        if missing:
            raise ValueError(f"no deployment handle for members: {', '.join(missing)}")
        catalog = load_catalog(catalog_path)
        retries = self.config.ingress.member_retries
        plans = build_tier_plans(
            self.config,
            lambda name: local_caller(self.local_members[name]) if name in self.local_members
            else handle_caller(member_handles[name], retries=retries),
        )
        self.runner = CascadeRunner(
            plans,
            num_classes=self.config.num_classes,
            price_per_second=DeviceClock(catalog).usd_per_second_by_class(),
            member_timeout_s=self.config.ingress.member_timeout_s,
        )
        self.limits = self.config.ingress
        self.stats = StatsAggregator([(t.name, t.gpu_class) for t in self.config.tiers])
        self.metrics = CascadeMetrics()
        self._class_names = [self.config.class_name(i) for i in range(self.config.num_classes)]
        self._formats = tuple(self.limits.allowed_formats)
        self._image_types = {t for f in self._formats for t in CONTENT_TYPES[f]}
        self._admin_digest = admin_token_sha256

    def reconfigure(self, user_config: dict) -> None:
        """Serve calls this with the deployment's user_config (at start and on every
        update, without restarting the replica); PUT /v1/cascade/policy calls it too.
        Validates everything first, so an invalid update leaves the live policy as it was.
        """
        update = self._parse_policy(user_config)
        if update is None:
            return
        by_name = update.exit_policies
        self.runner.tiers = tuple(
            dataclasses.replace(plan, policy=by_name[plan.name].kind,
                                threshold=by_name[plan.name].threshold)
            if plan.name in by_name else plan
            for plan in self.runner.tiers
        )
        for tier_json in self._config_json["tiers"]:
            if tier_json["name"] in by_name:
                tier_json["exit_policy"] = by_name[tier_json["name"]].model_dump(mode="json")

    def _parse_policy(self, user_config) -> PolicyUpdate | None:
        """The validated policy update (None for an empty user_config); raises ValueError
        naming the field for a bad shape, a bad value or an unknown tier."""
        if not user_config:
            return None
        update = PolicyUpdate.model_validate(user_config)
        known = [t.name for t in self.config.tiers]
        unknown = sorted(set(update.exit_policies) - set(known))
        if unknown:
            raise ValueError(
                f"exit_policies.{unknown[0]}: unknown tier; tiers are {', '.join(known)}"
            )
        return update

    def live_policies(self) -> dict:
        return {
            plan.name: {"kind": plan.policy, "threshold": plan.threshold}
            for plan in self.runner.tiers
        }

    @fastapi_app.put("/v1/cascade/policy")
    async def update_policy(self, request: Request) -> JSONResponse:
        """Admin: change exit policies at runtime (bearer token from COE_ADMIN_TOKEN)."""
        try:
            check_bearer(request.headers.get("authorization"), self._admin_digest)
        except AdminAuthError as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            return error_response(exc.status, exc.code, exc.message, headers)
        body = await request.body()
        if len(body) > ADMIN_BODY_LIMIT:
            return error_response(413, "body_too_large", f"policy body over {ADMIN_BODY_LIMIT} B")
        try:
            update = self._parse_policy(PolicyUpdate.model_validate_json(body).model_dump())
        except ValidationError as exc:
            return error_response(422, "invalid_policy", _describe_validation(exc.errors()))
        except ValueError as exc:
            return error_response(422, "invalid_policy", str(exc))
        self.reconfigure(update.model_dump(mode="json"))
        logger.info("exit policies changed by admin: %s", self.live_policies())
        return JSONResponse(content={"exit_policies": self.live_policies()})

    @fastapi_app.post("/v1/classify")
    async def classify(self, request: Request) -> JSONResponse:
        start = time.perf_counter()
        try:
            deadline_s = self._deadline_s(request)
            images = await self._read_images(request)
            outcomes = await self.runner.run(images, deadline_s=deadline_s, started=start)
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

    def _deadline_s(self, request: Request) -> float | None:
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

    async def _read_images(self, request: Request) -> list[np.ndarray]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in self._image_types and content_type not in JSON_TYPES:
            accepted = ", ".join(sorted(self._image_types))
            raise InputError(
                "unsupported_media_type",
                f"content type {content_type or '(none)'!r} not supported; send {accepted} "
                'or application/json {"images": [<base64>...]}',
                status=415,
            )
        body = await self._read_body(request)
        if not body:
            raise InputError("empty_body", "the request body is empty")
        if content_type in self._image_types:
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
        kwargs = {"max_pixels": self.limits.max_pixels, "where": where, "formats": self._formats}
        if len(data) > DECODE_IN_THREAD_BYTES:
            return await asyncio.to_thread(decode_image, data, **kwargs)
        return decode_image(data, **kwargs)

    def _predictions(self, outcomes: list[ImageOutcome]) -> JSONResponse:
        expired = [i for i, o in enumerate(outcomes) if o.deadline_expired]
        if expired and (self.limits.on_deadline == "error" or any(
            outcomes[i].label is None for i in expired
        )):
            reasons = "; ".join(outcomes[expired[0]].reasons)
            return error_response(
                504, "deadline_exceeded", f"image(s) {expired} not answered in time: {reasons}"
            )
        failed = [i for i, o in enumerate(outcomes) if o.label is None]
        if failed:
            reasons = "; ".join(outcomes[failed[0]].reasons)
            return error_response(
                503, "cascade_unavailable", f"no tier answered image(s) {failed}: {reasons}",
                retry_after(self.limits.retry_after_s),
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

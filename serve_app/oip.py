"""Open Inference Protocol (KServe v2 REST) routes on the cascade's ingress, beside /v1.

The cascade is one model, named after the cascade config (version "1"). Standard clients
(tritonclient.http, kserve.InferenceRESTClient) work against it; the wire format lives in
serve_app.oip_codec. Errors take the protocol's form `{"error": "<message>"}`: 4xx for the
client's mistakes, 5xx only when the cascade fails. Readiness asks Serve whether every
member deployment is HEALTHY. `build_oip_router(get_ingress)` is included by
serve_app.ingress; `get_ingress()` gives the serving CascadeIngress (None outside Serve).
No `from __future__ import annotations`: FastAPI must see real annotation objects.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from serve_app.body import read_body
from serve_app.decode import InputError
from serve_app.oip_codec import (
    HEADER_LENGTH,
    INPUT_BYTES,
    INPUT_PIXELS,
    OUTPUTS,
    ImageLimits,
    encode_response,
    parse_request,
)
from serve_app.oip_schemas import (
    InferenceResponse,
    ModelMetadata,
    OipError,
    ServerMetadata,
    TensorMetadata,
)

logger = logging.getLogger("ray.serve")

SERVER_NAME = "coe-serve"
SERVER_VERSION = "0.1.0"
MODEL_VERSION = "1"
EXTENSIONS = ["classification", "binary_tensor_data"]
PARSE_IN_THREAD_BYTES = 256 * 1024


def oip_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=OipError(error=message).model_dump(),
                        headers=headers)


def is_oip_path(request: Request) -> bool:
    """True for /v2 and /v2/... below the app's route prefix (their errors use OIP's form)."""
    path = request.url.path
    root = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    return path == "/v2" or path.startswith("/v2/")


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": OipError} for status in statuses}


def model_metadata(ingress) -> ModelMetadata:
    config = ingress.config
    return ModelMetadata(
        name=config.name,
        versions=[MODEL_VERSION],
        platform="coe-cascade",
        inputs=[
            TensorMetadata(name=INPUT_BYTES, datatype="BYTES", shape=[-1],
                           parameters={"content": "encoded JPEG or PNG"}),
            TensorMetadata(name=INPUT_PIXELS, datatype="UINT8", shape=[-1, -1, -1, 3],
                           parameters={"also": "FP32 in [0, 1]; [N, 3, H, W]"}),
        ],
        outputs=[
            TensorMetadata(name=OUTPUTS[0], datatype="FP32", shape=[-1, config.num_classes]),
            TensorMetadata(name="label", datatype="BYTES", shape=[-1]),
            TensorMetadata(name="exit_tier", datatype="BYTES", shape=[-1]),
            TensorMetadata(name="degraded", datatype="BOOL", shape=[-1]),
            TensorMetadata(name="cost_usd", datatype="FP64", shape=[-1]),
        ],
        parameters={"tiers": ",".join(t.name for t in config.tiers)},
    )


def member_deployments(ingress) -> list[str]:
    """The member deployments the ingress calls (not those living in its own process)."""
    config = ingress.config
    return [
        config.deployment_name(t, m) for t in config.tiers for m in t.members
        if config.deployment_name(t, m) not in ingress.local_members
    ]


async def unhealthy_members(ingress) -> list[str]:
    """`name: STATUS` of each member deployment Serve does not report HEALTHY."""
    from ray import serve

    app = serve.get_replica_context().app_name
    status = await asyncio.to_thread(serve.status)
    application = status.applications.get(app)
    deployments = application.deployments if application else {}
    bad = []
    for name in member_deployments(ingress):
        found = deployments.get(name)
        state = str(getattr(found.status, "value", found.status)) if found else "MISSING"
        if state != "HEALTHY":
            bad.append(f"{name}: {state}")
    return bad


def _account(ingress, status: int, start: float) -> None:
    latency_ms = (time.perf_counter() - start) * 1000.0
    ingress.stats.record_response(status, latency_ms)
    ingress.metrics.record_response(status, latency_ms)


def build_oip_router(get_ingress: Callable[[], Any]) -> APIRouter:
    """The /v2 routes over the ingress `get_ingress()` returns."""
    router = APIRouter(tags=["Open Inference Protocol (v2)"])

    def serving():
        ingress = get_ingress()
        if ingress is None:
            raise InputError("not_serving", "no cascade is being served here", status=503)
        return ingress

    def known_model(ingress, name: str, version: str | None = None) -> None:
        if name != ingress.config.name:
            raise InputError("not_found", f"unknown model {name!r}; this server serves "
                             f"{ingress.config.name!r}", status=404)
        if version not in (None, MODEL_VERSION):
            raise InputError("not_found", f"model {name!r} has no version {version!r}; "
                             f"versions: {MODEL_VERSION}", status=404)

    async def answer(make: Callable[[], Any]) -> Response:
        try:
            return await make()
        except InputError as exc:
            return oip_error(exc.status, exc.message)

    @router.get("/v2", response_model=ServerMetadata)
    async def server_metadata():
        return ServerMetadata(name=SERVER_NAME, version=SERVER_VERSION, extensions=EXTENSIONS)

    @router.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @router.get("/v2/health/ready", responses=_errors(503))
    async def ready():
        async def check():
            bad = await unhealthy_members(serving())
            if bad:
                return oip_error(503, "not ready: " + "; ".join(bad))
            return JSONResponse({"ready": True})
        return await answer(check)

    metadata_doc = {"response_model": ModelMetadata, "response_model_exclude_none": True,
                    "responses": _errors(404)}

    @router.get("/v2/models/{name}", **metadata_doc)
    @router.get("/v2/models/{name}/versions/{version}", **metadata_doc)
    async def metadata(name: str, version: str | None = None):
        async def build():
            ingress = serving()
            known_model(ingress, name, version)
            return model_metadata(ingress)
        return await answer(build)

    @router.get("/v2/models/{name}/ready", responses=_errors(404, 503))
    @router.get("/v2/models/{name}/versions/{version}/ready", responses=_errors(404, 503))
    async def model_ready(name: str, version: str | None = None):
        async def check():
            ingress = serving()
            known_model(ingress, name, version)
            bad = await unhealthy_members(ingress)
            if bad:
                return oip_error(503, f"model {name!r} not ready: " + "; ".join(bad))
            return JSONResponse({"name": name, "ready": True})
        return await answer(check)

    infer_doc = {"responses": {200: {"model": InferenceResponse}}
                 | _errors(400, 404, 413, 500, 503, 504)}

    @router.post("/v2/models/{name}/infer", **infer_doc)
    @router.post("/v2/models/{name}/versions/{version}/infer", **infer_doc)
    async def infer(name: str, request: Request, version: str | None = None):
        """Classify images through the cascade (KServe v2 / Triton HTTP inference)."""
        start = time.perf_counter()
        ingress = get_ingress()
        if ingress is None:
            return oip_error(503, "no cascade is being served here")
        try:
            known_model(ingress, name, version)
            limits = ingress.limits
            body = await read_body(request, limits.max_body_bytes)
            deadline_s = ingress.reader.deadline_s(request)
            bounds = ImageLimits(limits.max_images_per_request, limits.max_pixels,
                                 tuple(limits.allowed_formats))
            args = (body, request.headers.get(HEADER_LENGTH), bounds)
            parsed, images = (await asyncio.to_thread(parse_request, *args)
                              if len(body) > PARSE_IN_THREAD_BYTES else parse_request(*args))
            if parsed.model_name not in (None, name):
                raise InputError("invalid_request", f"model_name: {parsed.model_name!r} in "
                                 f"the body, {name!r} in the URL")
            outcomes = await ingress.run_images(images, deadline_s, start)
            config = ingress.config
            names = [config.class_name(i) for i in range(config.num_classes)]
            content, header_length = encode_response(parsed, outcomes, names, config.name,
                                                     MODEL_VERSION)
        except InputError as exc:
            _account(ingress, exc.status, start)
            return oip_error(exc.status, exc.message)
        except Exception as exc:  # the cascade's own errors carry their status; others: 500
            status = getattr(exc, "status", None)
            if not isinstance(status, int):
                logger.exception("v2 infer failed")
                _account(ingress, 500, start)
                return oip_error(500, "the cascade failed; see server logs")
            _account(ingress, status, start)
            return oip_error(status, getattr(exc, "message", str(exc)),
                             getattr(exc, "headers", None))
        _account(ingress, 200, start)
        if header_length is None:
            return Response(content, media_type="application/json")
        return Response(content, media_type="application/octet-stream",
                        headers={HEADER_LENGTH: str(header_length)})

    return router

"""The overhead benchmark's reference: a plain Ray Serve deployment, no cascade machinery.

One FastAPI deployment that takes raw image bytes, decodes them (the same decoder as the
cascade ingress), and runs the member's preprocess + forward in an @serve.batch queue with
the same batch size and wait as the cascade member. Same placement (GPU class resource,
fraction, CPUs) as a cascade member replica, so the only difference is the cascade layer.
"""

# No `from __future__ import annotations` here: FastAPI must see the real `Request` class
# on the route signature, or it treats `request` as a required query parameter (422).
import asyncio

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from ray import serve

plain_api = FastAPI(title="plain single-model deployment (overhead reference)")


class BatchedPredictor:
    """One model behind its own @serve.batch queue: the reference apps' only model code."""

    def __init__(self, spec: str, max_batch_size: int, batch_wait_timeout_s: float) -> None:
        import torch

        from zoo.registry import load_member

        torch.set_num_threads(1)
        self._member = load_member(spec)
        self.predict = serve.batch(
            max_batch_size=max_batch_size, batch_wait_timeout_s=batch_wait_timeout_s
        )(self._predict_batch)

    async def _predict_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        probs = await asyncio.to_thread(self._member.predict_probs, np.stack(images))
        return list(probs)


async def answer(request: Request, predict):
    """Decode the body, await `predict(image)`, answer with the top label (or a 4xx)."""
    from serve_app.decode import InputError, decode_image

    try:
        image = decode_image(await request.body())
    except InputError as exc:
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}},
                            status_code=exc.status)
    probs = await predict(image)
    label = int(np.argmax(probs))
    return {"predictions": [{"label": label, "confidence": float(probs[label])}]}


@serve.deployment
@serve.ingress(plain_api)
class PlainModel:
    """Decode -> batched preprocess + forward -> label; nothing else."""

    def __init__(self, spec: str, max_batch_size: int, batch_wait_timeout_s: float) -> None:
        self._predictor = BatchedPredictor(spec, max_batch_size, batch_wait_timeout_s)

    @plain_api.post("/v1/classify")
    async def classify(self, request: Request):
        return await answer(request, self._predictor.predict)

    @plain_api.get("/healthz")
    async def healthz(self):
        return {"status": "ok"}


@serve.deployment
class BatchedModel:
    """The model alone behind a handle: the second hop of the two-hop reference."""

    def __init__(self, spec: str, max_batch_size: int, batch_wait_timeout_s: float) -> None:
        self._predictor = BatchedPredictor(spec, max_batch_size, batch_wait_timeout_s)

    async def predict(self, image: np.ndarray) -> np.ndarray:
        return await self._predictor.predict(image)


two_hop_api = FastAPI(title="plain ingress + model deployment (overhead reference)")


@serve.deployment
@serve.ingress(two_hop_api)
class TwoHopIngress:
    """Decode, then one handle call to BatchedModel: the cascade's deployment shape without
    any cascade logic (policies, cost records, stats, metrics), to split the overhead into
    'one extra Serve hop' and 'cascade work'."""

    def __init__(self, model) -> None:
        self._model = model

    @two_hop_api.post("/v1/classify")
    async def classify(self, request: Request):
        return await answer(request, self._model.predict.remote)

    @two_hop_api.get("/healthz")
    async def healthz(self):
        return {"status": "ok"}

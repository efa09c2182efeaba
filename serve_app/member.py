"""The member deployment: one model of one tier, batched with @serve.batch.

The same class is deployed once per member (`<tier>-<member>`); the app builder gives each
copy its tier's placement. Each call carries ONE decoded image (uint8 HWC) so that
@serve.batch can batch across concurrent requests; the member applies its own preprocess.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
from ray import serve

from cost_model.attribution import emulated_device_seconds, split_batch
from serve_app.member_result import MemberResult


@serve.deployment
class MemberDeployment:
    """Loads one zoo member and answers per-image calls in batches."""

    def __init__(
        self,
        spec: str,
        tier: str,
        member: str,
        gpu_class: str,
        max_batch_size: int = 8,
        batch_wait_timeout_s: float = 0.005,
        catalog_path: str | None = None,
    ) -> None:
        import torch

        from cluster.catalog import load_catalog
        from cluster.placement import device_for_replica
        from zoo.registry import load_member

        torch.set_num_threads(1)
        self._torch = torch
        self.tier = tier
        self.member = member
        self.gpu_class = gpu_class
        self.device = device_for_replica()
        self._on_gpu = self.device.startswith("cuda")
        self._catalog = load_catalog(catalog_path)
        self._loaded = load_member(spec, device=self.device)
        self._predict_batch.set_max_batch_size(max_batch_size)
        self._predict_batch.set_batch_wait_timeout_s(batch_wait_timeout_s)

    async def classify(self, image: np.ndarray) -> MemberResult:
        """Class probabilities for one uint8 HWC image, with its share of the batch's time."""
        return await self._predict_batch(image)

    def info(self) -> dict:
        """Who this replica is and where it runs (used by tests and `coe serve` status)."""
        import ray

        return {
            "tier": self.tier,
            "member": self.member,
            "gpu_class": self.gpu_class,
            "device": self.device,
            "weights_sha": getattr(self._loaded, "weights_sha", None),
            "assigned_resources": ray.get_runtime_context().get_assigned_resources(),
        }

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def _predict_batch(self, images: list[np.ndarray]) -> list[MemberResult]:
        # The forward pass runs in a worker thread so the replica's event loop keeps
        # accepting calls meanwhile, which is what lets the next batch fill up.
        probs, seconds = await asyncio.to_thread(self._forward, np.stack(images))
        size = len(images)
        measured = split_batch(seconds, size)
        if self._on_gpu:
            device_seconds, emulated = measured, False
        else:
            device_seconds = emulated_device_seconds(measured, self.gpu_class, self._catalog)
            emulated = True
        return [
            MemberResult(
                probs=probs[i],
                device_seconds=device_seconds,
                cpu_seconds=0.0 if self._on_gpu else measured,
                batch_size=size,
                emulated=emulated,
            )
            for i in range(size)
        ]

    def _forward(self, batch: np.ndarray) -> tuple[np.ndarray, float]:
        """Probabilities of a (N,H,W,3) uint8 batch and the device time of the forward pass.

        On a GPU: synchronised wall time. On a CPU: the CPU time of this thread (torch runs
        single-threaded here), so time spent preempted by other replicas sharing the cores
        is not billed as device time; an emulated GPU would not be shared that way.
        """
        if self._on_gpu:
            self._torch.cuda.synchronize()
            start = time.perf_counter()
            probs = self._loaded.predict_probs(batch)
            self._torch.cuda.synchronize()
            return np.asarray(probs, dtype=np.float32), time.perf_counter() - start
        start = time.thread_time()
        probs = self._loaded.predict_probs(batch)
        return np.asarray(probs, dtype=np.float32), time.thread_time() - start

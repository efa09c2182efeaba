"""The collage deployment: the collage CNN on its own GPU class, one collage per call.

The ingress (serve_app.collage_batcher) tiles the protected tier's images into s x s
collages; this replica classifies a whole collage in one forward pass and returns the
filled cells' probabilities with the device time of the pass (EMULATED on a CPU, like the
members: cost_model.device_time).
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from ray import serve

from serve_app.collage_batcher import CollageAnswer
from serve_app.cpu_priority import lower_cpu_priority, lower_process_priority


def backup_cpu_priority() -> None:
    """The collage pass runs only on CPU time the members leave idle (a backup on its own
    device, emulated on shared cores): `lower_cpu_priority(idle=True)`."""
    lower_cpu_priority(idle=True)


@serve.deployment
class CollageDeployment:
    """Loads the collage CNN (zoo.collage_train.load_collage_model) and answers collages."""

    def __init__(self, gpu_class: str, catalog_path: str | None = None) -> None:
        import torch

        from cluster.placement import device_for_replica
        from cost_model.catalog import load_catalog
        from cost_model.device_time import DeviceClock
        from zoo.calibrate import ensure_calibration
        from zoo.collage_train import load_collage_model
        from zoo.flops import count_layers
        from zoo.transforms import cifar_batch_transform

        torch.set_num_threads(1)
        self._torch = torch
        self.gpu_class = gpu_class
        self.device = device_for_replica()
        self._on_gpu = self.device.startswith("cuda")
        self._model = load_collage_model().to(self.device)
        self._preprocess = cifar_batch_transform()
        self._layers = count_layers(self._model)
        calibration = None if self._on_gpu else ensure_calibration()
        self._clock = DeviceClock(load_catalog(catalog_path), calibration=calibration)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="coe-forward-collage")
        self.collages = 0
        if not self._on_gpu:
            lower_process_priority()  # a backup's handling must not outrank the members

    async def classify_collage(self, collage: np.ndarray, filled: int) -> CollageAnswer:
        """Probabilities of the first `filled` cells of one uint8 (sH, sW, 3) collage."""
        loop = asyncio.get_running_loop()
        probs, seconds = await loop.run_in_executor(self._executor, self._forward, collage)
        self.collages += 1
        emulated = not self._on_gpu
        device_seconds = self._clock.call_seconds(
            seconds, self.gpu_class, layers=self._layers, emulated=emulated
        )
        return CollageAnswer(
            probs=probs[:filled], filled=int(filled), device_seconds=device_seconds,
            cpu_seconds=0.0 if self._on_gpu else seconds, emulated=emulated,
        )

    def info(self) -> dict:
        return {"gpu_class": self.gpu_class, "collages": self.collages, "pid": os.getpid()}

    def _forward(self, collage: np.ndarray) -> tuple[np.ndarray, float]:
        torch = self._torch
        if not self._on_gpu:
            backup_cpu_priority()
        start = time.thread_time() if not self._on_gpu else time.perf_counter()
        batch = torch.from_numpy(np.ascontiguousarray(collage))[None].permute(0, 3, 1, 2)
        with torch.inference_mode():
            logits = self._model(self._preprocess(batch).to(self.device))[0]
            probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        if self._on_gpu:
            torch.cuda.synchronize()
            return probs, time.perf_counter() - start
        return probs, time.thread_time() - start

"""The member deployment: one model of one tier, batched with @serve.batch.

The same class is deployed once per member (`<tier>-<member>`); the app builder gives each
copy its tier's placement. With `ingress.colocate_first_tier` the ingress instead builds the
undecorated class (`MemberDeployment.func_or_class`) in its own process for tier 0.
Each call carries ONE decoded image (uint8 HWC, at its native size) so that @serve.batch can
batch across concurrent requests; the member fits it to its own input size and applies its
own preprocess, so members of different input sizes share the ingress's one decode.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from ray import serve

from cost_model.device_time import DeviceClock, split_batch
from serve_app.cpu_priority import lower_cpu_priority, starting_at_idle_priority, threads_at_idle
from serve_app.member_result import MemberResult
from serve_app.waste import WasteMeter, WorkTicket

logger = logging.getLogger(__name__)
CHAOS_FAULTS_ENV = "COE_CHAOS_FAULTS"  # "1": `set_fault_delay` works (chaos runs only)


BATCH_SIZE_BOUNDARIES = [1.5, 2.5, 3.5, 4.5, 6.5, 8.5, 16.5, 32.5, 64.5]


def _batch_size_histogram():
    """Live batch sizes per member (`ray_coe_member_batch_size`), to check the planner's
    predicted batches. None outside a Serve replica (e.g. unit tests)."""
    try:
        from ray.serve.metrics import Histogram

        return Histogram(
            "coe_member_batch_size", "images per forward call of a member",
            boundaries=BATCH_SIZE_BOUNDARIES, tag_keys=("tier", "member"),
        )
    except Exception:  # noqa: BLE001 - metrics are an aid; never fail a replica over them
        return None


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
        fp16: bool = False,
        channels_last: bool = False,
    ) -> None:
        # A start-up must not outrank the serving replicas' forward passes (a replacement
        # starts while they serve): see serve_app.cpu_priority.
        with starting_at_idle_priority() as start:
            self._start = start
            import torch

            from cluster.placement import device_for_replica
            from cost_model.catalog import load_catalog
            from zoo.calibrate import ensure_calibration
            from zoo.device import ForwardTimer, apply_precision, check_device
            from zoo.flops import count_layers
            from zoo.registry import load_member

            torch.set_num_threads(1)
            self._torch = torch
            self.tier = tier
            self.member = member
            self.gpu_class = gpu_class
            self.device = device_for_replica()
            self._on_gpu = self.device.startswith("cuda")
            catalog = load_catalog(catalog_path)
            # Real, mismatched (billed class != this GPU) or emulated; see zoo.device.
            self.device_check = check_device(gpu_class, catalog)
            if self.device_check.status == "mismatch":
                logger.warning("member %s/%s: %s", tier, member, self.device_check.reason)
            self._loaded, self.precision = apply_precision(
                load_member(spec, device=self.device), self.device, fp16, channels_last)
            self._timer = ForwardTimer(self._on_gpu)
            calibration = None if self._on_gpu else ensure_calibration()
            self._clock = DeviceClock(catalog, calibration=calibration)
            self._layers = count_layers(self._loaded.model)
            self._batches = 0  # forward passes run (tests check that cancelled work never ran)
            self._batch_sizes = _batch_size_histogram()
            self._images = 0
            self._waste = WasteMeter()
            self._fault_delay_s = 0.0
            # One forward thread per member: torch runs single-threaded, and a member that runs
            # inside the ingress (colocate_first_tier) must not share the loop's default pool.
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"coe-forward-{member}")
            # A batcher per instance, not `@serve.batch` on the method: that queue belongs to
            # the class, so two members in one process (colocated tier) would share a batch.
            self._predict_batch = serve.batch(
                max_batch_size=max_batch_size, batch_wait_timeout_s=batch_wait_timeout_s
            )(self._run_batch_of)

    async def classify(self, image: np.ndarray) -> MemberResult:
        """Class probabilities for one uint8 HWC image, with its share of the batch's time
        (and any device time this replica spent on images whose callers left)."""
        arrived = time.time()  # serve_app.call_anatomy: the end of the call's routing hop
        if self._fault_delay_s:
            await asyncio.sleep(self._fault_delay_s)  # injected by `coe chaos` (quorum)
        ticket = WorkTicket()
        try:
            result = await self._predict_batch((image, ticket, arrived))
        except asyncio.CancelledError:
            self._waste.abandon(ticket)
            raise
        wasted = self._waste.take()
        return dataclasses.replace(result, wasted_device_seconds=wasted) if wasted else result

    def set_fault_delay(self, seconds: float) -> float:
        """Chaos only (refused unless COE_CHAOS_FAULTS=1 in the replica): delay every call
        by `seconds` (0 clears it), to make this member time out on purpose."""
        if os.environ.get(CHAOS_FAULTS_ENV) != "1":
            raise PermissionError(f"fault injection is off ({CHAOS_FAULTS_ENV} != 1)")
        self._fault_delay_s = max(0.0, float(seconds))
        return self._fault_delay_s

    def info(self) -> dict:
        """Who this replica is and where it runs (used by tests and `coe serve` status)."""
        import ray

        return {
            "tier": self.tier,
            "member": self.member,
            "gpu_class": self.gpu_class,
            "device": self.device,
            "device_check": self.device_check.as_dict(),
            "precision": self.precision,
            "weights_sha": getattr(self._loaded, "weights_sha", None),
            "input_size": list(getattr(self._loaded, "input_size", ())),
            "batches": self._batches,
            "images": self._images,
            "wasted_device_seconds": self._waste.total,
            "pid": os.getpid(),
            "start_ran_idle": self._start.ran_idle,
            "start_launched_idle": self._start.launched_idle,
            "threads_at_sched_idle": threads_at_idle(),
            "assigned_resources": ray.get_runtime_context().get_assigned_resources(),
        }

    async def _run_batch_of(self, items: list[tuple]) -> list[MemberResult]:
        images = [image for image, _, _ in items]
        # The forward pass runs in a worker thread so the replica's event loop keeps
        # accepting calls meanwhile, which is what lets the next batch fill up.
        size = len(images)
        self._batches += 1
        self._images += size
        if self._batch_sizes is not None:
            self._batch_sizes.observe(size, tags={"tier": self.tier, "member": self.member})
        loop = asyncio.get_running_loop()
        probs, seconds, started, ended = await loop.run_in_executor(
            self._executor, self._fit_and_forward, images)
        measured = split_batch(seconds, size)
        emulated = not self._on_gpu
        call_seconds = self._clock.call_seconds(
            seconds, self.gpu_class, layers=self._layers, emulated=emulated
        )
        device_seconds = split_batch(call_seconds, size)
        for _, ticket, _ in items:
            self._waste.ran(ticket, device_seconds)
        return [
            MemberResult(
                probs=probs[i],
                device_seconds=device_seconds,
                cpu_seconds=0.0 if self._on_gpu else measured,
                batch_size=size,
                emulated=emulated,
                billed_class_mismatch=self.device_check.status == "mismatch",
                arrived_at=items[i][2],
                forward_started_at=started,
                forward_ended_at=ended,
            )
            for i in range(size)
        ]

    def _fit_and_forward(self, images: list[np.ndarray]) -> tuple[np.ndarray, float, float, float]:
        """Resize to this member's input size (host-side preprocessing, not device time),
        then the timed forward pass; also the thread's wall-clock start and end."""
        started = time.time()
        probs, seconds = self._forward(self._loaded.fit(images))
        return probs, seconds, started, time.time()

    def _forward(self, batch: np.ndarray) -> tuple[np.ndarray, float]:
        """Probabilities of a (N,H,W,3) uint8 batch and the device time of the forward pass.

        On a GPU: CUDA events around the call, synchronised (zoo.device.ForwardTimer). On a
        CPU: the CPU time of this thread (torch runs single-threaded here), so time spent
        preempted by other replicas sharing the cores is not billed as device time; an
        emulated GPU would not be shared that way.
        """
        if not self._on_gpu:
            lower_cpu_priority()
        probs, seconds = self._timer.time(lambda: self._loaded.predict_probs(batch))
        return np.asarray(probs, dtype=np.float32), seconds

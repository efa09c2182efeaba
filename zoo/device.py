"""Real GPUs: is this the GPU class we bill for, how to time a forward pass, fp16/channels_last.

Why: a member is billed at its tier's GPU class. On a CUDA node that is only honest if the
device really is of that class, so each member checks `get_device_name()` (and the memory
size, which tells the A100 40 GB from the 80 GB) against the catalog class and says whether
its figures were measured on the billed class. Device time on CUDA is taken with CUDA events
around the forward pass (synchronised), not host wall time. Without CUDA the class is
emulated (cost_model.device_time). Every function takes the CUDA layer as an argument
(default `torch.cuda`), so the logic is tested here with a fake one.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from cost_model.catalog import GPUCatalog

T = TypeVar("T")
Status = Literal["real", "mismatch", "emulated"]

# What `torch.cuda.get_device_name()` says for each catalog accelerator_type, e.g.
# "Tesla T4", "NVIDIA L4", "NVIDIA A10G", "NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3".
# Word boundaries keep "L4" from matching "L40S". Memory then separates 40 GB from 80 GB.
NAME_PATTERNS = {
    "T4": r"\bT4\b",
    "L4": r"\bL4\b",
    "A10G": r"\bA10G\b",
    "A100-40G": r"\bA100\b",
    "A100-80G": r"\bA100\b",
    "H100": r"\bH100\b",
}
MEMORY_TOLERANCE = 0.2  # reported memory within 20% of the catalog's (GB vs GiB, reserved)


def default_cuda():
    """The real CUDA layer (imported lazily: no torch import at module import)."""
    import torch

    return torch.cuda


@dataclasses.dataclass(frozen=True)
class DeviceCheck:
    """Where a member of `gpu_class` runs, and whether its device time is of that class."""

    gpu_class: str
    device: str
    device_name: str | None
    memory_gb: float | None
    status: Status
    reason: str

    @property
    def measured_on_billed_class(self) -> bool:
        return self.status == "real"

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self),
                "measured_on_billed_class": self.measured_on_billed_class}


def _name_pattern(accelerator_type: str) -> str:
    return NAME_PATTERNS.get(accelerator_type, r"\b" + re.escape(accelerator_type) + r"\b")


def device_matches(gpu_class: str, name: str, memory_gb: float | None,
                   catalog: GPUCatalog) -> bool:
    """True when a device called `name` with `memory_gb` is of catalog class `gpu_class`."""
    gpu = catalog.get(gpu_class)
    if not re.search(_name_pattern(gpu.accelerator_type), name, flags=re.IGNORECASE):
        return False
    if memory_gb is None:
        return True
    return abs(memory_gb - gpu.memory_gb) <= MEMORY_TOLERANCE * gpu.memory_gb


def _describe(cuda, index: int) -> tuple[str, float | None]:
    name = str(cuda.get_device_name(index))
    try:
        memory_gb = cuda.get_device_properties(index).total_memory / 1e9
    except Exception:  # noqa: BLE001 - the name alone still identifies most classes
        memory_gb = None
    return name, memory_gb


def check_device(gpu_class: str, catalog: GPUCatalog, cuda=None, index: int = 0) -> DeviceCheck:
    """Real, mismatched or emulated: the device this process would run `gpu_class` on."""
    cuda = cuda if cuda is not None else default_cuda()
    catalog.get(gpu_class)  # KeyError naming the known classes
    if not cuda.is_available():
        return DeviceCheck(
            gpu_class, "cpu", None, None, "emulated",
            "no CUDA device visible here (torch.cuda.is_available() is False): device time "
            f"on {gpu_class} is emulated from CPU time with the catalog's device model",
        )
    name, memory_gb = _describe(cuda, index)
    memory = f"{memory_gb:.1f} GB" if memory_gb is not None else "memory unknown"
    if device_matches(gpu_class, name, memory_gb, catalog):
        return DeviceCheck(gpu_class, f"cuda:{index}", name, memory_gb, "real",
                           f"cuda:{index} is {name} ({memory}), a {gpu_class}: measured "
                           "device time, CUDA events")
    return DeviceCheck(
        gpu_class, f"cuda:{index}", name, memory_gb, "mismatch",
        f"billed as {gpu_class} but cuda:{index} is {name} ({memory}): device time is "
        f"measured on that GPU, NOT on the billed class {gpu_class}",
    )


def detect_gpu_class(catalog: GPUCatalog, cuda=None, index: int = 0) -> str:
    """The catalog class of the local GPU (ValueError naming the device when none fits)."""
    cuda = cuda if cuda is not None else default_cuda()
    if not cuda.is_available():
        raise ValueError("no CUDA device visible (torch.cuda.is_available() is False)")
    name, memory_gb = _describe(cuda, index)
    for gpu_class in catalog.classes:
        if device_matches(gpu_class, name, memory_gb, catalog):
            return gpu_class
    raise ValueError(
        f"cuda:{index} ({name}, {memory_gb} GB) matches no GPU class of the catalog "
        f"({', '.join(catalog.classes)}); add it to the catalog to profile on it"
    )


class ForwardTimer:
    """Device seconds of one call: CUDA events on a GPU, this thread's CPU time otherwise."""

    def __init__(self, on_cuda: bool, cuda=None) -> None:
        self.on_cuda = on_cuda
        self._cuda = (cuda if cuda is not None else default_cuda()) if on_cuda else None

    def time(self, fn: Callable[[], T]) -> tuple[T, float]:
        if self._cuda is None:
            start = time.thread_time()
            result = fn()
            return result, time.thread_time() - start
        cuda = self._cuda
        begin, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
        cuda.synchronize()  # earlier queued work is not this call's
        begin.record()
        result = fn()
        end.record()
        end.synchronize()
        return result, begin.elapsed_time(end) / 1000.0  # elapsed_time is in ms


def apply_precision(loaded, device: str, fp16: bool = False, channels_last: bool = False):
    """The member with fp16 weights/inputs (CUDA only) and/or channels_last memory format.

    Returns (member, notes); the member is unchanged when nothing applies. fp16 is not used
    on CPU (slow there, and it would not tell anything about the GPU).
    """
    import torch

    notes: list[str] = []
    half = fp16 and device.startswith("cuda")
    if fp16 and not half:
        notes.append("fp16 requested but no CUDA device: running fp32")
    if not (half or channels_last):
        return loaded, notes
    if not isinstance(loaded.model, torch.nn.Module):
        notes.append("fp16/channels_last apply to torch modules only: ignored")
        return loaded, notes
    model = loaded.model
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if half:
        model = model.half()
    preprocess = loaded.preprocess

    def converted(batch):
        inputs = preprocess(batch)
        if half:
            inputs = inputs.half()
        if channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return inputs

    notes.append(", ".join(n for n, on in (("fp16", half), ("channels_last", channels_last))
                           if on))
    return dataclasses.replace(loaded, model=model, preprocess=converted), notes

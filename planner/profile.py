"""How long each member takes per image: measured here (CPU) or supplied from real GPUs.

Why: the planner prices cascades per image. On this CPU-only machine the device time of a GPU
class is emulated by cost_model.device_time (the members bill the same way); users
with real hardware pass `--profile FILE` with per-member, per-GPU-class seconds instead.
Timing matches the serving replicas (one torch thread) and wraps only the forward pass,
as the live cost records do. Profiles are cached by model, weights sha and host.
"""

from __future__ import annotations

import hashlib
import json
import platform
import socket
import statistics
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from cost_model.device_time import EMULATION_NOTE, DeviceClock
from foundation.paths import cache_root
from planner.costs import CostTable, usd_per_device_ms

BATCH_SIZES = (1, 8, 32)


class MemberProfile(BaseModel):
    """Seconds per image by batch size: on this CPU and/or measured on real GPU classes."""

    model_config = ConfigDict(extra="forbid")

    model: str
    weights_sha: str | None = None
    params: int | None = None
    mflops: float | None = None
    host: str | None = None
    torch_threads: int | None = None
    cpu_seconds_per_image: dict[int, float] = Field(default_factory=dict)
    device_seconds_per_image: dict[str, dict[int, float]] = Field(
        default_factory=dict, description="GPU class -> batch size -> measured seconds per image"
    )


class ProfileFile(BaseModel):
    """A profile JSON: `coe plan --profile FILE` reads this shape."""

    model_config = ConfigDict(extra="forbid")

    members: dict[str, MemberProfile]
    note: str = ""


def host_key() -> str:
    """Profiles are only valid on the machine that measured them."""
    raw = f"{socket.gethostname()}|{platform.machine()}|{platform.processor()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def _cache_path(model: str, weights_sha: str) -> Path:
    safe = model.replace("/", "_").replace(":", "_")
    folder = cache_root() / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{safe}-{weights_sha[:16]}-{host_key()}.json"


def _time_forward(member, batch_size: int, warmup: int, repeats: int) -> float:
    """Median CPU seconds per image of `predict_probs`, exactly what a member replica bills.

    Thread CPU time, like the member deployment: preemption by other processes on a
    shared machine is not device time.
    """
    import numpy as np

    images = np.random.default_rng(0).integers(0, 256, (batch_size, 32, 32, 3), dtype=np.uint8)
    for _ in range(warmup):
        member.predict_probs(images)
    times = []
    for _ in range(repeats):
        start = time.thread_time()
        member.predict_probs(images)
        times.append(time.thread_time() - start)
    return statistics.median(times) / batch_size


def profile_member(
    spec: str,
    batch_sizes: Sequence[int] = BATCH_SIZES,
    warmup: int = 3,
    repeats: int = 7,
    use_cache: bool = True,
) -> MemberProfile:
    """Median CPU seconds per image at each batch size, with one torch thread."""
    import torch

    from zoo.flops import count_mflops, count_params
    from zoo.registry import load_member

    member = load_member(spec)
    path = _cache_path(spec, member.weights_sha)
    if use_cache and path.exists():
        cached = MemberProfile.model_validate_json(path.read_text())
        if set(batch_sizes) <= set(cached.cpu_seconds_per_image):
            return cached
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        seconds = {bs: _time_forward(member, bs, warmup, repeats) for bs in batch_sizes}
    finally:
        torch.set_num_threads(threads)
    try:
        mflops = round(count_mflops(member.model), 3)
    except Exception:  # noqa: BLE001 - scripted/exotic modules may not be countable
        mflops = None
    profile = MemberProfile(
        model=spec,
        weights_sha=member.weights_sha,
        params=count_params(member.model),
        mflops=mflops,
        host=host_key(),
        torch_threads=1,
        cpu_seconds_per_image=seconds,
    )
    path.write_text(profile.model_dump_json(indent=2))
    return profile


def profile_pool(specs: Iterable[str], progress: bool = True, **kwargs) -> ProfileFile:
    from tqdm import tqdm

    specs = list(specs)
    members = {}
    for spec in tqdm(specs, desc="profiling members", disable=not progress):
        members[spec] = profile_member(spec, **kwargs)
    return ProfileFile(
        members=members,
        note="cpu_seconds_per_image measured on this host with 1 torch thread. " + EMULATION_NOTE,
    )


def load_profile(path: str | Path) -> ProfileFile:
    with open(path) as handle:
        return ProfileFile.model_validate(json.load(handle))


def _at_batch(table: dict[int, float], batch_size: int) -> float:
    """Seconds per image at the nearest measured batch size (exact when measured)."""
    nearest = min(table, key=lambda bs: (abs(bs - batch_size), bs))
    return table[nearest]


def cost_table(
    profile: ProfileFile,
    classes: Sequence[str],
    batch_size: int = 8,
    measured: ProfileFile | None = None,
    clock: DeviceClock | None = None,
) -> CostTable:
    """device-ms per (member, class): measured on that class if known, else emulated from CPU."""
    clock = clock or DeviceClock()
    device_ms: dict[tuple[str, str], float] = {}
    mflops: dict[str, float] = {}
    emulated = False
    for name, member in profile.members.items():
        real = measured.members.get(name) if measured else None
        if member.mflops is not None:
            mflops[name] = member.mflops
        elif real is not None and real.mflops is not None:
            mflops[name] = real.mflops
        for gpu in classes:
            if real is not None and gpu in real.device_seconds_per_image:
                seconds = _at_batch(real.device_seconds_per_image[gpu], batch_size)
            elif member.cpu_seconds_per_image:
                cpu_seconds = _at_batch(member.cpu_seconds_per_image, batch_size)
                seconds = clock.device_seconds(cpu_seconds, gpu, emulated=True)
                emulated = True
            else:
                raise ValueError(
                    f"--profile: member {name!r} has no timing for GPU class {gpu!r} "
                    "and no CPU timing to emulate it from"
                )
            device_ms[(name, gpu)] = seconds * 1000.0
    return CostTable(device_ms, usd_per_device_ms(classes, clock), mflops, emulated)

"""How long each member takes per image: measured here (CPU) or supplied from real GPUs.

Why: the planner prices cascades per image. On this CPU-only machine the device time of a GPU
class is emulated by cost_model.device_time (the members bill the same way); users
with real hardware pass `--profile FILE` with per-member, per-GPU-class seconds instead.
Timing matches the serving replicas (one torch thread) and wraps only the forward pass,
as the live cost records do. Profiles are cached by model, weights sha and host.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from cost_model.device_time import EMULATION_NOTE, DeviceClock
from foundation.host import host_key
from foundation.paths import cache_root
from planner.costs import Batching, CostTable, MemberTiming, usd_per_device_ms

BATCH_SIZES = tuple(range(1, 9))  # 1 .. the default max_batch_size


class MemberProfile(BaseModel):
    """Seconds per image by batch size: on this CPU and/or measured on real GPU classes."""

    model_config = ConfigDict(extra="forbid")

    model: str
    weights_sha: str | None = None
    params: int | None = None
    mflops: float | None = None
    layers: int | None = Field(default=None, description="conv + linear layers per forward")
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

    from zoo.flops import count_layers, count_mflops, count_params
    from zoo.registry import load_member

    member = load_member(spec)
    path = _cache_path(spec, member.weights_sha)
    if use_cache and path.exists():
        cached = MemberProfile.model_validate_json(path.read_text())
        if set(batch_sizes) <= set(cached.cpu_seconds_per_image) and cached.layers is not None:
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
        layers=count_layers(member.model),
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


def emulation_clock(catalog_path: str | Path | None = None) -> DeviceClock:
    """The clock the planner prices with: the catalog and this host's CPU calibration,
    exactly what the member replicas bill with."""
    from cost_model.catalog import load_catalog
    from zoo.calibrate import ensure_calibration

    return DeviceClock(load_catalog(catalog_path), calibration=ensure_calibration())


def cost_table(
    profile: ProfileFile,
    classes: Sequence[str],
    batch_size: int = 8,
    measured: ProfileFile | None = None,
    clock: DeviceClock | None = None,
    batching: Batching | None = None,
) -> CostTable:
    """Costs per (member, class): measured on that class if known, else emulated from CPU.

    Priced at `batching` (a request rate) when given, else at the fixed `batch_size`.
    """
    clock = clock or emulation_clock()
    timings: dict[str, MemberTiming] = {}
    mflops: dict[str, float] = {}
    emulated = False
    for name, member in profile.members.items():
        real = measured.members.get(name) if measured else None
        if member.mflops is not None:
            mflops[name] = member.mflops
        elif real is not None and real.mflops is not None:
            mflops[name] = real.mflops
        real_seconds = dict(real.device_seconds_per_image) if real is not None else {}
        if any(gpu not in real_seconds for gpu in classes):
            if not member.cpu_seconds_per_image:
                missing = next(gpu for gpu in classes if gpu not in real_seconds)
                raise ValueError(
                    f"--profile: member {name!r} has no timing for GPU class {missing!r} "
                    "and no CPU timing to emulate it from"
                )
            emulated = True
        layers = member.layers if member.layers is not None else (real.layers if real else None)
        timings[name] = MemberTiming(
            layers=layers or 0,
            cpu_seconds_per_image=dict(member.cpu_seconds_per_image),
            measured_seconds_per_image=real_seconds,
        )
    return CostTable(
        usd_per_device_ms(classes, clock), timings=timings, clock=clock, batching=batching,
        priced_batch_size=batch_size, mflops=mflops, emulated=emulated,
    )

"""`coe plan --profile-device cuda`: measure members on the local GPU, for its catalog class.

Why: on a GPU machine the planner should price the local class with measured device time
(CUDA events, synchronised, as the serving members bill it) instead of the emulation. The
local GPU's class comes from its name and memory (zoo.device); the other classes of the
plan stay emulated from the CPU profile, and the cost table says so.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence

from cost_model.catalog import GPUCatalog
from foundation.host import host_key
from planner.profile import BATCH_SIZES, MemberProfile, ProfileFile
from zoo.device import ForwardTimer, detect_gpu_class

INPUT_SIZE = 32  # CIFAR members; the serving path feeds what the ingress decodes


def _seconds_per_image(member, timer: ForwardTimer, batch_size: int, warmup: int,
                       repeats: int) -> float:
    import numpy as np

    images = np.random.default_rng(0).integers(
        0, 256, (batch_size, INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8)
    for _ in range(warmup):
        member.predict_probs(images)
    times = [timer.time(lambda: member.predict_probs(images))[1] for _ in range(repeats)]
    return statistics.median(times) / batch_size


def profile_pool_on_cuda(
    specs: Iterable[str],
    catalog: GPUCatalog,
    cuda=None,
    load: Callable | None = None,
    batch_sizes: Sequence[int] = BATCH_SIZES,
    warmup: int = 5,
    repeats: int = 20,
    progress: bool = True,
) -> ProfileFile:
    """Median measured seconds per image on the local GPU, keyed by its catalog class.

    `cuda` (default torch.cuda) and `load` (default zoo.registry.load_member) are injectable
    so the logic runs under a fake CUDA layer in tests.
    """
    from tqdm import tqdm

    from zoo.flops import count_layers

    if load is None:
        from zoo.registry import load_member as load
    if cuda is None:
        from zoo.device import default_cuda

        cuda = default_cuda()
    gpu_class = detect_gpu_class(catalog, cuda)  # ValueError naming the device if none fits
    device_name = cuda.get_device_name(0)
    timer = ForwardTimer(on_cuda=True, cuda=cuda)
    members = {}
    for spec in tqdm(list(specs), desc=f"profiling on {device_name}", disable=not progress):
        member = load(spec, device="cuda")
        seconds = {bs: _seconds_per_image(member, timer, bs, warmup, repeats)
                   for bs in batch_sizes}
        members[spec] = MemberProfile(
            model=spec, weights_sha=member.weights_sha, layers=count_layers(member.model),
            host=host_key(), device_seconds_per_image={gpu_class: seconds},
        )
    return ProfileFile(
        members=members,
        note=f"device_seconds_per_image measured on {device_name} ({gpu_class}) with CUDA "
        "events, synchronised; other classes are emulated",
    )


def merge_profiles(*profiles: ProfileFile | None) -> ProfileFile | None:
    """Per member, the union of measured classes (later profiles win per class)."""
    given = [p for p in profiles if p is not None]
    if not given:
        return None
    members: dict[str, MemberProfile] = {}
    for profile in given:
        for name, member in profile.members.items():
            if name not in members:
                members[name] = member.model_copy(deep=True)
                continue
            merged = members[name]
            for gpu, seconds in member.device_seconds_per_image.items():
                merged.device_seconds_per_image[gpu] = dict(seconds)
            merged.layers = merged.layers if merged.layers is not None else member.layers
    return ProfileFile(members=members, note="; ".join(p.note for p in given if p.note))

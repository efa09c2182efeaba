"""Measure the emulation unit: CPU seconds of one ResNet-50 image on one torch thread here.

Why: GPU classes are emulated on this CPU, and the catalog cites each class's ResNet-50
rate. Timing the same network here says how much reference work a member's CPU second is.
Measured once per host (a few seconds) and cached; every member and the planner read the
same file, so the live bill and the plan use one unit.
"""

from __future__ import annotations

import datetime
import os
import statistics
import time
from pathlib import Path

from cost_model.calibration import EmulationCalibration, read_calibration
from foundation.host import host_key
from foundation.paths import cache_root

BATCH_SIZE = 2
REPEATS = 3


def calibration_path() -> Path:
    """Where this host's calibration lives (`$COE_CALIBRATION` overrides)."""
    env = os.environ.get("COE_CALIBRATION")
    if env:
        return Path(env).expanduser()
    return cache_root() / "calibration" / f"resnet50-{host_key()}.json"


def measure_calibration(
    batch_size: int = BATCH_SIZE, repeats: int = REPEATS
) -> EmulationCalibration:
    """Median thread CPU seconds per image of torchvision ResNet-50 (random weights, 224x224)."""
    import torch
    from torchvision.models import resnet50

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = resnet50(weights=None).eval()
        images = torch.rand(batch_size, 3, 224, 224)
        times = []
        with torch.inference_mode():
            model(images)  # warm-up: allocator and kernels
            for _ in range(repeats):
                start = time.thread_time()
                model(images)
                times.append(time.thread_time() - start)
    finally:
        torch.set_num_threads(threads)
    return EmulationCalibration(
        reference="resnet50",
        cpu_seconds_per_image=statistics.median(times) / batch_size,
        batch_size=batch_size,
        host=host_key(),
        torch_version=torch.__version__,
        measured_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )


def ensure_calibration(path: str | Path | None = None) -> EmulationCalibration:
    """This host's calibration: read from the cache, or measured now and cached."""
    path = Path(path) if path else calibration_path()
    cached = read_calibration(path)
    if cached is not None and cached.host == host_key():
        return cached
    calibration = measure_calibration()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(calibration.model_dump_json(indent=2))
    tmp.replace(path)
    return calibration

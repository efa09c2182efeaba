"""Real-GPU logic under a fake CUDA layer: class checks, CUDA-event timing, fp16/channels_last,
`coe plan --profile-device cuda` profiling, `coe doctor` rows and cost-record marking.

The fake is passed in as the `cuda` argument (what `torch.cuda` is in production); nothing
global is patched.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from cascade.config import load_cascade
from coe.cli_doctor import format_rows, tier_checks
from cost_model.catalog import load_catalog
from cost_model.record import MemberUsage, merge, record_from_usage
from planner.profile_cuda import merge_profiles, profile_pool_on_cuda
from zoo.device import ForwardTimer, apply_precision, check_device, detect_gpu_class

REPO = Path(__file__).resolve().parents[2]
T4 = ("Tesla T4", 15_843_721_216)
A100_40 = ("NVIDIA A100-SXM4-40GB", 42_505_273_344)
A100_80 = ("NVIDIA A100-SXM4-80GB", 85_198_045_184)
L40S = ("NVIDIA L40S", 48_305_799_168)


class FakeEvent:
    def __init__(self, cuda: FakeCuda) -> None:
        self.cuda = cuda
        self.at_ms: float | None = None

    def record(self) -> None:
        self.cuda.log.append("record")
        self.at_ms = self.cuda.clock_ms

    def synchronize(self) -> None:
        self.cuda.log.append("event.synchronize")

    def elapsed_time(self, end: FakeEvent) -> float:
        return end.at_ms - self.at_ms


class FakeCuda:
    """The parts of torch.cuda the project uses; GPU work advances `clock_ms`."""

    def __init__(self, device=T4, available: bool = True) -> None:
        self.name, self.memory = device
        self.available = available
        self.clock_ms = 0.0
        self.log: list[str] = []

    def is_available(self) -> bool:
        return self.available

    def device_count(self) -> int:
        return 1 if self.available else 0

    def get_device_name(self, index: int = 0) -> str:
        return self.name

    def get_device_properties(self, index: int = 0):
        return SimpleNamespace(total_memory=self.memory)

    def synchronize(self) -> None:
        self.log.append("synchronize")

    def Event(self, enable_timing: bool = False) -> FakeEvent:  # noqa: N802 - torch's name
        assert enable_timing, "timing events must be created with enable_timing=True"
        return FakeEvent(self)

    def run(self, ms: float) -> None:
        self.clock_ms += ms


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.mark.parametrize("device, gpu_class, status", [
    (T4, "T4", "real"),
    (A100_40, "A100-40GB", "real"),
    (A100_80, "A100-80GB", "real"),
    (A100_80, "A100-40GB", "mismatch"),   # same name family, memory tells them apart
    (L40S, "L4", "mismatch"),             # "L4" must not match "L40S"
    (T4, "A100-40GB", "mismatch"),
])
def test_device_name_and_memory_decide_real_or_mismatch(device, gpu_class, status, catalog):
    check = check_device(gpu_class, catalog, cuda=FakeCuda(device))
    assert check.status == status
    assert check.measured_on_billed_class is (status == "real")
    assert check.device_name == device[0] and check.device == "cuda:0"
    if status == "mismatch":
        assert f"NOT on the billed class {gpu_class}" in check.reason


def test_without_cuda_the_class_is_emulated_and_says_why(catalog):
    check = check_device("L4", catalog, cuda=FakeCuda(available=False))
    assert check.status == "emulated" and check.device == "cpu"
    assert "torch.cuda.is_available() is False" in check.reason and "emulated" in check.reason


def test_detect_gpu_class(catalog):
    assert detect_gpu_class(catalog, FakeCuda(A100_40)) == "A100-40GB"
    assert detect_gpu_class(catalog, FakeCuda(T4)) == "T4"
    with pytest.raises(ValueError, match="RTX 4090.*matches no GPU class"):
        detect_gpu_class(catalog, FakeCuda(("NVIDIA GeForce RTX 4090", 25_393_692_672)))


def test_cuda_timer_uses_synchronised_events_not_host_time():
    cuda = FakeCuda()
    timer = ForwardTimer(on_cuda=True, cuda=cuda)
    result, seconds = timer.time(lambda: cuda.run(12.5) or "probs")
    assert result == "probs"
    assert seconds == pytest.approx(0.0125)
    assert cuda.log == ["synchronize", "record", "record", "event.synchronize"]


def test_cpu_timer_measures_thread_time():
    timer = ForwardTimer(on_cuda=False)
    _, seconds = timer.time(lambda: sum(i * i for i in range(200_000)))
    assert seconds > 0


def test_channels_last_keeps_the_answers_and_fp16_needs_cuda():
    from zoo.registry import load_member

    member = load_member("resnet20")
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    reference = member.predict_probs(images)
    fast, notes = apply_precision(member, "cpu", fp16=True, channels_last=True)
    assert notes == ["fp16 requested but no CUDA device: running fp32", "channels_last"]
    assert np.allclose(fast.predict_probs(images), reference, atol=1e-5)
    same, notes = apply_precision(member, "cpu")
    assert same is member and notes == []


class _FakeGpuMember:
    """A loaded member whose forward pass takes 1 ms of (fake) GPU time per image."""

    weights_sha = "f" * 64

    def __init__(self, cuda: FakeCuda) -> None:
        import torch

        self.cuda = cuda
        self.model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(),
                                         torch.nn.LazyLinear(10))

    def predict_probs(self, images):
        self.cuda.run(1.0 * len(images))
        return np.full((len(images), 10), 0.1, dtype=np.float32)


def test_profile_on_cuda_measures_the_local_class(catalog):
    cuda = FakeCuda(T4)
    loads = []

    def load(spec, device):
        loads.append((spec, device))
        return _FakeGpuMember(cuda)

    profile = profile_pool_on_cuda(["m1", "m2"], catalog, cuda=cuda, load=load,
                                   batch_sizes=(1, 4), warmup=1, repeats=3, progress=False)
    assert loads == [("m1", "cuda"), ("m2", "cuda")]
    for name in ("m1", "m2"):
        seconds = profile.members[name].device_seconds_per_image
        assert set(seconds) == {"T4"}
        assert seconds["T4"] == {1: pytest.approx(0.001), 4: pytest.approx(0.001)}
    assert "Tesla T4 (T4)" in profile.note
    merged = merge_profiles(None, profile)
    assert merged.members["m1"].device_seconds_per_image["T4"][4] == pytest.approx(0.001)


def test_profile_on_cuda_refuses_without_a_gpu(catalog):
    with pytest.raises(ValueError, match="no CUDA device visible"):
        profile_pool_on_cuda(["m1"], catalog, cuda=FakeCuda(available=False),
                             load=lambda spec, device: None, progress=False)


def test_doctor_reports_each_tier(catalog):
    config = load_cascade(REPO / "configs" / "cifar10-coe-handset.yaml", check_models=False)
    rows = tier_checks(config, catalog, cuda=FakeCuda(T4))
    assert [(r["tier"], r["status"]) for r in rows] == [
        ("small", "real"), ("mid", "mismatch"), ("large", "mismatch")]
    text = format_rows(rows)
    assert "REAL" in text and "MISMATCH" in text and "Tesla T4" in text
    emulated = tier_checks(config, catalog, cuda=FakeCuda(available=False))
    assert {r["status"] for r in emulated} == {"emulated"}


def test_cost_records_mark_classes_not_measured_on_the_billed_class():
    prices = {"T4": 1e-4, "L4": 2e-4}
    record = record_from_usage([
        MemberUsage("t0", "a", "T4", 0.001, emulated=False),
        MemberUsage("t1", "b", "L4", 0.002, emulated=False, billed_class_mismatch=True),
    ], prices)
    assert record.not_measured_on_billed_class == ["L4"]
    clean = record_from_usage([MemberUsage("t0", "a", "T4", 0.001, emulated=False)], prices)
    assert clean.not_measured_on_billed_class == []
    assert merge([clean, record]).not_measured_on_billed_class == ["L4"]


def test_cpu_member_reports_emulated_and_applies_channels_last():
    from serve_app.member import MemberDeployment

    member = MemberDeployment.func_or_class(
        "resnet20", "t0", "r20", "T4", max_batch_size=2, batch_wait_timeout_s=0.0,
        channels_last=True)
    assert member.device_check.status == "emulated"
    assert member.precision == ["channels_last"]
    image = np.zeros((32, 32, 3), dtype=np.uint8)

    # the batch handler behind @serve.batch (serve.batch itself needs a Serve replica)
    from serve_app.waste import WorkTicket

    arrived = time.time()
    [result] = asyncio.run(member._run_batch_of([(image, WorkTicket(), arrived)]))
    assert result.emulated is True and result.billed_class_mismatch is False
    assert result.probs.shape == (10,) and result.device_seconds > 0
    # the call's anatomy stamps (serve_app.call_anatomy): arrival, then the forward thread
    assert result.arrived_at == arrived
    assert arrived <= result.forward_started_at < result.forward_ended_at <= time.time()

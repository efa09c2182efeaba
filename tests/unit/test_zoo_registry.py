"""The model registry: names, spec kinds, clear errors, and the LoadedMember contract."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from zoo.registry import (
    SMALL_CNN_NAMES,
    UnknownModelError,
    WeightsNotTrainedError,
    ensure_known,
    known_names,
    load_member,
)


def test_builtins_are_registered():
    names = known_names()
    for name in ("resnet20", "resnet32", "resnet44", "resnet56", *SMALL_CNN_NAMES):
        assert name in names
        ensure_known(name)


def test_small_cnn_names_match_architectures():
    from zoo.small_cnns import SMALL_CNNS

    assert tuple(SMALL_CNNS) == SMALL_CNN_NAMES


def test_unknown_name_is_rejected_with_known_names():
    with pytest.raises(UnknownModelError) as info:
        ensure_known("resnet21")
    message = str(info.value)
    assert "'resnet21'" in message and "resnet20" in message and "cnn_a" in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "spec, problem",
    [
        ("torchvision:resnet18", "torchvision:<arch>@<weights path>"),
        ("torchvision:resnet18@/no/such.pth", "/no/such.pth does not exist"),
        ("torchscript:/no/such.pt", "/no/such.pt does not exist"),
        ("module:only_one_part", "module:<pkg.mod>:<callable>"),
        ("module:no_such_pkg_xyz.mod:make", "not importable"),
        ("module:zoo.small_cnns:nothing_here", "no callable named 'nothing_here'"),
        ("", "empty model spec"),
    ],
)
def test_malformed_specs_say_what_is_wrong(spec, problem):
    with pytest.raises(UnknownModelError, match="Known models") as info:
        ensure_known(spec)
    assert problem in str(info.value)


def test_ensure_known_does_not_import_torch():
    code = textwrap.dedent(
        """
        import sys
        from zoo.registry import ensure_known
        ensure_known("resnet56"); ensure_known("cnn_b")
        assert "torch" not in sys.modules, "ensure_known imported torch"
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=_repo_root())


def _repo_root():
    from foundation.paths import REPO_ROOT

    return REPO_ROOT


class _TinyNet(nn.Module):
    def __init__(self, classes: int = 4):
        super().__init__()
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, classes))

    def forward(self, x):
        return self.net(x)


def make_tiny_net():
    """Factory for the `module:` spec test."""
    torch.manual_seed(0)
    return _TinyNet()


def make_tiny_net_with_preprocess():
    return make_tiny_net(), lambda batch: batch.float() / 255.0


def _images(n=5):
    return np.random.default_rng(0).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def test_module_spec_loads_and_predicts():
    spec = f"module:{__name__}:make_tiny_net"
    ensure_known(spec)
    member = load_member(spec)
    assert member.num_classes == 4 and member.source == spec and len(member.weights_sha) == 64
    probs = member.predict_probs(_images(), batch_size=2)
    assert probs.shape == (5, 4) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)


def test_module_spec_with_own_preprocess():
    member = load_member(f"module:{__name__}:make_tiny_net_with_preprocess")
    x = torch.from_numpy(_images(1)).permute(0, 3, 1, 2)
    assert torch.equal(member.preprocess(x), x.float() / 255.0)


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_torchscript_spec(tmp_path):
    path = tmp_path / "tiny.pt"
    torch.jit.script(make_tiny_net()).save(str(path))
    member = load_member(f"torchscript:{path}")
    assert member.num_classes == 4
    assert member.predict_probs(_images(3)).shape == (3, 4)


def test_torchvision_spec_infers_classes_and_size(tmp_path):
    import torchvision

    path = tmp_path / "mnv3.pth"
    torch.save(
        {"state_dict": torchvision.models.mobilenet_v3_small(num_classes=7).state_dict()}, path
    )
    member = load_member(f"torchvision:mobilenet_v3_small@{path}?size=64")
    assert member.num_classes == 7
    assert member.preprocess(torch.zeros((1, 3, 32, 32), dtype=torch.uint8)).shape[-1] == 64
    assert member.predict_probs(_images(2)).shape == (2, 7)


def test_torchvision_spec_rejects_bad_size_option(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(b"x")
    with pytest.raises(UnknownModelError, match="only size=N"):
        ensure_known(f"torchvision:resnet18@{path}?scale=2")


def test_predict_probs_rejects_bad_images():
    member = load_member(f"module:{__name__}:make_tiny_net")
    with pytest.raises(ValueError, match="uint8"):
        member.predict_probs(np.zeros((1, 32, 32, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        member.predict_probs(np.zeros((1, 3, 32, 32), dtype=np.uint8))


def test_small_cnn_without_any_weights_says_run_coe_zoo_train(monkeypatch, tmp_path):
    monkeypatch.setenv("COE_CACHE", str(tmp_path))
    monkeypatch.setattr("zoo.shipped.WEIGHTS_DIR", tmp_path / "no-weights-here")
    with pytest.raises(WeightsNotTrainedError, match="coe zoo train --models cnn_a") as info:
        load_member("cnn_a")
    assert str(tmp_path / "zoo" / "cnn_a.pt") in str(info.value)
    assert str(tmp_path / "no-weights-here") in str(info.value)


def test_list_models_reports_sizes(monkeypatch, tmp_path):
    from zoo.registry import list_models

    monkeypatch.setenv("COE_CACHE", str(tmp_path))
    infos = {info.name: info for info in list_models()}
    assert infos["resnet20"].params == 269_722 and infos["resnet20"].available
    assert abs(infos["resnet20"].mflops - 40.55) < 0.01
    for name in SMALL_CNN_NAMES:  # shipped in zoo/weights/: available with an empty cache
        assert infos[name].available and infos[name].cached_accuracy is not None
        assert infos[name].mflops <= 4.1

"""ONNX: `coe zoo export --format onnx` writes a self-contained graph, and the `onnx:` member
backend (onnxruntime, CPU provider here) agrees with torch within 1e-4 on a CIFAR ResNet."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zoo.onnx_backend import onnx_providers
from zoo.onnx_export import export_onnx
from zoo.registry import UnknownModelError, ensure_known, load_member

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def resnet20_onnx(tmp_path_factory):
    from zoo.registry import _resnet_available

    if not _resnet_available(20):
        pytest.skip("resnet20 weights not in COE_ASSETS/models")
    path = tmp_path_factory.mktemp("onnx") / "resnet20.onnx"
    export_onnx("resnet20", path)
    return path


def test_onnx_and_torch_agree_within_1e_4_on_resnet20(resnet20_onnx):
    import torch

    torch_member = load_member("resnet20")
    onnx_member = load_member(f"onnx:{resnet20_onnx}")
    assert onnx_member.input_size == (32, 32) and onnx_member.num_classes == 10
    pixels = np.random.default_rng(1).integers(0, 256, (12, 32, 32, 3), np.uint8)
    with torch.inference_mode():  # logits of the network itself, not only probabilities
        batch = torch.from_numpy(pixels).permute(0, 3, 1, 2)
        torch_logits = torch_member.model(torch_member.preprocess(batch)).numpy()
    onnx_logits = onnx_member.model(torch.from_numpy(pixels).permute(0, 3, 1, 2)).numpy()
    np.testing.assert_allclose(onnx_logits, torch_logits, atol=1e-4, rtol=0)
    np.testing.assert_allclose(onnx_member.predict_probs(pixels),
                               torch_member.predict_probs(pixels), atol=1e-4, rtol=0)


def test_onnx_member_reports_file_sha_and_kernel_layers(resnet20_onnx):
    import hashlib

    from zoo.flops import count_layers

    member = load_member(f"onnx:{resnet20_onnx}")
    assert member.weights_sha == hashlib.sha256(resnet20_onnx.read_bytes()).hexdigest()
    # convolutions + the final Gemm: the same kernel count the device model uses for torch
    assert count_layers(member.model) == count_layers(load_member("resnet20").model) == 20


def test_cpu_provider_here_cuda_first_on_gpus():
    assert onnx_providers("cpu") == ["CPUExecutionProvider"]
    providers = onnx_providers("cuda:0")
    assert providers[-1] == "CPUExecutionProvider"  # CUDA first where onnxruntime has it


def test_onnx_spec_errors_name_the_problem(tmp_path):
    with pytest.raises(UnknownModelError, match="does not exist"):
        ensure_known(f"onnx:{tmp_path / 'missing.onnx'}")
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(UnknownModelError, match="bad option"):
        ensure_known(f"onnx:{tmp_path / 'm.onnx'}?preprocess=sepia")


def test_float_input_graph_gets_the_declared_preprocess(tmp_path):
    """A user's graph taking normalised floats at a static size (not our export)."""
    import torch

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(4, 5)).eval()
    path = tmp_path / "float.onnx"
    torch.onnx.export(net, (torch.zeros(1, 3, 48, 48),), str(path), dynamo=False,
                      input_names=["x"], dynamic_axes={"x": {0: "n"}})
    member = load_member(f"onnx:{path}?preprocess=imagenet")
    assert member.input_size == (48, 48) and member.num_classes == 5
    image = np.random.default_rng(2).integers(0, 256, (1, 100, 70, 3), np.uint8)
    expected = load_member(f"onnx:{path}").predict_probs(image)  # cifar normalisation
    assert member.predict_probs(image).shape == (1, 5)
    assert np.all(np.isfinite(expected))


def test_cli_export_writes_and_checks(resnet20_onnx, tmp_path, capsys):
    from coe.cli import main

    out = tmp_path / "r20.onnx"
    assert main(["zoo", "export", "--format", "onnx", "resnet20", "--out", str(out),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["path"] == str(out) and out.is_file() and report["input_size"] == 32
    assert report["max_abs_diff_probs"] < 1e-4

"""Any image size: the ingress decodes once at the native size, and each member fits the
image to its own declared input size (a 32x32 CIFAR member beside a 224x224 ImageNet one)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from serve_app.decode import decode_image
from zoo.registry import load_member, register_model
from zoo.transforms import fit_image


def _jpeg(height: int, width: int) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def resnet18_spec(tmp_path_factory):
    """A randomly initialised torchvision ResNet-18 (10 classes) as a bring-your-own member."""
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("byo") / "resnet18.pth"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), path)
    return f"torchvision:resnet18@{path}?size=224"


def test_ingress_decode_keeps_the_native_size():
    assert decode_image(_jpeg(240, 320), size=None).shape == (240, 320, 3)
    assert decode_image(_jpeg(240, 320)).shape == (32, 32, 3)  # the old fixed-size call


def test_fit_resizes_only_when_needed():
    image = np.random.default_rng(1).integers(0, 256, (32, 32, 3), np.uint8)
    assert fit_image(image, (32, 32)) is image
    assert fit_image(image, (224, 200)).shape == (224, 200, 3)


def _first_conv_inputs(model: torch.nn.Module) -> list[tuple[int, ...]]:
    seen: list[tuple[int, ...]] = []
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda _m, args, _out: seen.append(tuple(args[0].shape)))
    return seen


def test_each_member_sees_its_own_input_size(resnet18_spec):
    images = [decode_image(_jpeg(240, 320), size=None), decode_image(_jpeg(50, 40), size=None)]
    cifar, imagenet = load_member("cnn_a"), load_member(resnet18_spec)
    assert (cifar.input_size, imagenet.input_size) == ((32, 32), (224, 224))
    cifar_seen, imagenet_seen = _first_conv_inputs(cifar.model), _first_conv_inputs(imagenet.model)
    assert cifar.fit(images).shape == (2, 32, 32, 3)
    assert cifar.predict_probs(cifar.fit(images)).shape == (2, 10)
    assert imagenet.predict_probs(imagenet.fit(images)).shape == (2, 10)
    assert cifar_seen == [(2, 3, 32, 32)] and imagenet_seen == [(2, 3, 224, 224)]


def test_registered_and_module_members_declare_their_size(monkeypatch):
    import zoo.registry

    zoo.registry.known_names()  # builtins registered in the real registry first
    monkeypatch.setattr(zoo.registry, "_REGISTRY", dict(zoo.registry._REGISTRY))
    def tiny():
        return torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.AdaptiveAvgPool2d(1),
                                   torch.nn.Flatten(), torch.nn.Linear(2, 3))

    register_model("tiny-64", factory=tiny, input_size=64)
    member = load_member("tiny-64")
    assert member.input_size == (64, 64)
    seen = _first_conv_inputs(member.model)
    member.predict_probs(np.zeros((1, 10, 20, 3), np.uint8))  # fitted inside predict_probs
    assert seen == [(1, 3, 64, 64)]
    module_member = load_member(f"module:{__name__}:sized_factory")
    assert module_member.input_size == (48, 48)


def sized_factory():
    """A module: factory returning (model, preprocess, input size)."""
    from zoo.transforms import cifar_batch_transform

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(2, 3))
    return net, cifar_batch_transform(), 48

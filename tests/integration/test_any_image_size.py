"""One cascade mixing a 32x32 CIFAR member (cnn_a) with a 224x224 bring-your-own member (a
randomly initialised torchvision ResNet-18): the ingress decodes each image once at its
native size and each member fits it to its own input size. Shapes and routing, not accuracy.
"""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import pytest
from PIL import Image

from serve_app.schemas import ClassifyResponse
from tests.integration.serve_helpers import deployed_app

APP = "it-sizes"
PREFIX = "/it-sizes"


def _jpeg(height: int, width: int, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def sizes_url(ray_serve, tmp_path_factory):
    import torch
    import torchvision


    torch.manual_seed(0)
    weights = tmp_path_factory.mktemp("byo") / "resnet18.pth"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), weights)
    config = {
        "name": APP,
        "tiers": [
            # confidence 1.0 is never met by a softmax: every image escalates to the 224 tier
            {"name": "cifar", "gpu_class": "T4", "members": [{"model": "cnn_a"}],
             "exit_policy": {"kind": "confidence", "threshold": 1.0}},
            {"name": "imagenet", "gpu_class": "L4",
             "members": [{"model": f"torchvision:resnet18@{weights}?size=224", "name": "r18"}]},
        ],
    }
    with deployed_app(ray_serve, config, APP, PREFIX, timeout_s=120) as url:
        yield url


def test_members_declare_32_and_224(sizes_url):
    from ray import serve

    sizes = {}
    for name in ("cifar-cnn_a", "imagenet-r18"):
        info = serve.get_deployment_handle(name, app_name=APP).info.remote().result()
        sizes[name] = info["input_size"]
    assert sizes == {"cifar-cnn_a": [32, 32], "imagenet-r18": [224, 224]}


def test_native_size_images_reach_both_tiers(sizes_url):
    for height, width in ((240, 320), (32, 32), (500, 90)):
        response = httpx.post(sizes_url + "/v1/classify", content=_jpeg(height, width, height),
                              headers={"content-type": "image/jpeg"}, timeout=120)
        assert response.status_code == 200, response.text
        pred = ClassifyResponse.model_validate(response.json()).predictions[0]
        assert [t.tier for t in pred.tiers] == ["cifar", "imagenet"]
        assert pred.exit_tier.name == "imagenet" and 0 <= pred.label < 10
        assert pred.tiers[0].votes["cnn_a"] is not None and pred.tiers[1].votes["r18"] is not None
        assert set(pred.cost.device_seconds_by_gpu_class) == {"T4", "L4"}


def test_v2_bytes_input_of_any_size(sizes_url):
    blob = base64.b64encode(_jpeg(150, 200, 7)).decode()
    body = {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": [blob]}]}
    response = httpx.post(sizes_url + f"/v2/models/{APP}/infer", json=body, timeout=120)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["parameters"]["exit_tier"] == "imagenet"
    probs = next(o for o in answer["outputs"] if o["name"] == "probabilities")
    assert probs["shape"] == [1, 10] and abs(sum(probs["data"]) - 1.0) < 1e-4

"""The Open Inference Protocol (KServe v2 REST) on the ingress, driven by the real clients:
tritonclient.http in JSON and binary mode, and kserve's InferenceRESTClient.

Stand-in members vote through pixels (tests.fixtures.standin), so each answer's label and
exit tier are known in advance.
"""

from __future__ import annotations

import asyncio
import base64

import httpx
import numpy as np
import pytest

from tests.fixtures.standin import paint
from tests.integration.serve_helpers import deployed_app
from tests.integration.test_cascade_serve import CLASSES, png, standin

APP = "it-oip"
PREFIX = "/it-oip"
CONFIG = {
    "name": APP,
    "num_classes": 10,
    "class_names": CLASSES,
    "tiers": [
        {"name": "small", "gpu_class": "T4", "members": [standin(0, "a"), standin(1, "b")],
         "exit_policy": {"kind": "agreement", "threshold": 1.0}},
        {"name": "mid", "gpu_class": "L4", "members": [standin(2, "c")]},
    ],
}


@pytest.fixture(scope="module")
def oip_url(ray_serve):
    with deployed_app(ray_serve, CONFIG, APP, PREFIX, timeout_s=90,
                      health_path="/v2/health/ready") as url:
        yield url


@pytest.fixture(scope="module")
def triton(oip_url):
    import tritonclient.http as triton_http

    client = triton_http.InferenceServerClient(url=oip_url.removeprefix("http://"))
    yield client
    client.close()


def test_health_and_metadata_with_tritonclient(triton):
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready(APP) and not triton.is_model_ready("nope")
    server = triton.get_server_metadata()
    assert {"classification", "binary_tensor_data"} <= set(server["extensions"])
    model = triton.get_model_metadata(APP)
    assert model["name"] == APP and model["versions"] == ["1"]
    assert {t["name"] for t in model["inputs"]} == {"image", "pixels"}
    assert model["outputs"][0] == {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}


def test_tritonclient_json_mode_uint8_tensor_with_classification(triton):
    import tritonclient.http as triton_http

    pixels = np.stack([paint([3, 3, 9]), paint([1, 2, 5])])  # exits at small; escalates
    tensor = triton_http.InferInput("pixels", list(pixels.shape), "UINT8")
    tensor.set_data_from_numpy(pixels, binary_data=False)
    outputs = [
        triton_http.InferRequestedOutput("probabilities", binary_data=False, class_count=2),
        triton_http.InferRequestedOutput("label", binary_data=False),
        triton_http.InferRequestedOutput("exit_tier", binary_data=False),
    ]
    result = triton.infer(APP, [tensor], outputs=outputs, request_id="t1")
    top = result.as_numpy("probabilities")
    assert top.shape == (2, 2)
    score, index, name = top[0, 0].decode().split(":") if isinstance(top[0, 0], bytes) \
        else top[0, 0].split(":")
    assert (int(index), name) == (3, "cat") and float(score) > 0.9
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")]
    tiers = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("exit_tier")]
    assert labels == ["cat", "dog"] and tiers == ["small", "mid"]
    response = result.get_response()
    assert response["id"] == "t1"
    params = response["parameters"]
    assert params["exit_tier"] == "small,mid" and params["degraded"] is False
    assert params["cost_usd"] > 0 and params["cost_emulated"] is True  # emulated GPU classes


def test_tritonclient_binary_mode_encoded_images(triton):
    import tritonclient.http as triton_http

    blobs = np.array([png([4, 4, 0]), png([6, 7, 8])], dtype=np.object_)
    tensor = triton_http.InferInput("image", [2], "BYTES")
    tensor.set_data_from_numpy(blobs, binary_data=True)
    result = triton.infer(APP, [tensor])  # no outputs named: every default output binary
    probs = result.as_numpy("probabilities")
    assert probs.dtype == np.float32 and probs.shape == (2, 10)
    assert probs.argmax(axis=1).tolist() == [4, 8]  # [6, 7] disagree: mid's member says 8
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    labels = [v.decode() for v in result.as_numpy("label")]
    assert labels == ["deer", "ship"]
    assert result.get_response()["parameters"]["exit_tier"] == "small,mid"

    top = triton_http.InferRequestedOutput("probabilities", binary_data=True, class_count=2)
    result = triton.infer(APP, [tensor], outputs=[top])
    best = [row[0].decode().split(":") for row in result.as_numpy("probabilities")]
    assert [(int(i), name) for _, i, name in best] == [(4, "deer"), (8, "ship")]


def test_tritonclient_fp32_nchw_tensor_binary(triton):
    import tritonclient.http as triton_http

    pixels = paint([2, 2, 0])[None].transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    tensor = triton_http.InferInput("pixels", list(pixels.shape), "FP32")
    tensor.set_data_from_numpy(pixels, binary_data=True)
    output = triton_http.InferRequestedOutput("probabilities", binary_data=True)
    result = triton.infer(APP, [tensor], outputs=[output])
    assert int(result.as_numpy("probabilities").argmax()) == 2


def test_bad_input_is_a_4xx_in_the_protocols_error_form(triton, oip_url):
    import tritonclient.http as triton_http
    from tritonclient.utils import InferenceServerException

    tensor = triton_http.InferInput("pixels", [1, 4, 4], "UINT8")
    tensor.set_data_from_numpy(np.zeros((1, 4, 4), np.uint8), binary_data=False)
    with pytest.raises(InferenceServerException) as caught:
        triton.infer(APP, [tensor])
    assert caught.value.status() == "400" and "[N, H, W, 3]" in caught.value.message()

    answer = httpx.post(oip_url + "/v2/models/nope/infer", json={"inputs": []}, timeout=30)
    assert answer.status_code == 404 and answer.json() == {"error": answer.json()["error"]}
    answer = httpx.post(oip_url + f"/v2/models/{APP}/infer", content=b"{not json",
                        timeout=30)
    assert answer.status_code == 400 and isinstance(answer.json()["error"], str)
    answer = httpx.get(oip_url + "/v2/no/such/route", timeout=30)
    assert answer.status_code == 404 and isinstance(answer.json()["error"], str)


def test_kserve_rest_client_v2(oip_url):
    pytest.importorskip("kserve", reason="kserve is installed by `make` (see Makefile)")
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    async def drive():
        client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=60))
        try:
            assert await client.is_server_live(oip_url)
            assert await client.is_server_ready(oip_url)
            assert await client.is_model_ready(oip_url, APP)
            as_json = InferInput(name="image", shape=[1], datatype="BYTES",
                                 data=[base64.b64encode(png([5, 5, 1])).decode()])
            first = await client.infer(
                oip_url, InferRequest(model_name=APP, infer_inputs=[as_json],
                                      request_id="k1"), model_name=APP)
            pixels = np.stack([paint([1, 2, 7])])
            as_binary = InferInput(name="pixels", shape=list(pixels.shape), datatype="UINT8")
            as_binary.set_data_from_numpy(pixels, binary_data=True)
            second = await client.infer(
                oip_url, InferRequest(model_name=APP, infer_inputs=[as_binary]),
                model_name=APP)
            return first, second
        finally:
            await client.close()

    first, second = asyncio.run(drive())
    assert first.id == "k1" and first.parameters["exit_tier"] == "small"
    outputs = {o.name: o for o in first.outputs}
    assert int(outputs["probabilities"].as_numpy().argmax()) == 5
    outputs = {o.name: o for o in second.outputs}
    assert int(outputs["probabilities"].as_numpy().argmax()) == 7
    assert second.parameters["exit_tier"] == "mid"

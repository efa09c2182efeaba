"""Open Inference Protocol bodies: inputs (BYTES, UINT8/FP32 in both layouts, binary
extension) are checked and decoded; outputs carry probabilities, top-k, cost parameters."""

from __future__ import annotations

import base64
import io
import json
import struct

import numpy as np
import pytest
from PIL import Image

from cost_model.record import CostRecord
from serve_app.decode import InputError
from serve_app.oip_codec import ImageLimits, encode_response, parse_request
from serve_app.oip_schemas import InferenceRequest
from serve_app.runner import ImageOutcome

LIMITS = ImageLimits(max_images=4, max_pixels=512 * 512)
NAMES = [f"c{i}" for i in range(4)]


def _png(height: int, width: int, value: int = 7) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _json(inputs: list[dict], **extra) -> bytes:
    return json.dumps({"inputs": inputs, **extra}).encode()


def test_bytes_input_in_json_decodes_at_native_size():
    data = [base64.b64encode(_png(40, 60)).decode(), base64.b64encode(_png(8, 9)).decode()]
    body = _json([{"name": "image", "shape": [2], "datatype": "BYTES", "data": data}])
    _, images = parse_request(body, None, LIMITS)
    assert [im.shape for im in images] == [(40, 60, 3), (8, 9, 3)]
    assert images[0].dtype == np.uint8 and int(images[0][0, 0, 0]) == 7


def test_bytes_input_with_the_binary_extension():
    blobs = [_png(20, 30), _png(5, 5)]
    raw = b"".join(struct.pack("<I", len(b)) + b for b in blobs)
    header = _json([{"name": "image", "shape": [2], "datatype": "BYTES",
                     "parameters": {"binary_data_size": len(raw)}}])
    _, images = parse_request(header + raw, str(len(header)), LIMITS)
    assert [im.shape for im in images] == [(20, 30, 3), (5, 5, 3)]


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_uint8_and_fp32_tensors_in_both_layouts(layout):
    pixels = np.random.default_rng(0).integers(0, 256, (2, 6, 5, 3), dtype=np.uint8)
    sent = pixels if layout == "NHWC" else pixels.transpose(0, 3, 1, 2)
    body = _json([{"name": "pixels", "shape": list(sent.shape), "datatype": "UINT8",
                   "data": sent.ravel().tolist()}])
    _, images = parse_request(body, None, LIMITS)
    np.testing.assert_array_equal(np.stack(images), pixels)

    floats = (sent.astype(np.float32) / 255.0).astype("<f4").tobytes()
    header = _json([{"name": "pixels", "shape": list(sent.shape), "datatype": "FP32",
                     "parameters": {"binary_data_size": len(floats)}}])
    _, images = parse_request(header + floats, str(len(header)), LIMITS)
    np.testing.assert_array_equal(np.stack(images), pixels)


@pytest.mark.parametrize(
    ("inputs", "status", "needle"),
    [
        ([{"name": "pixels", "shape": [1, 4, 4], "datatype": "UINT8", "data": [0] * 16}],
         400, "must be [N, H, W, 3]"),
        ([{"name": "pixels", "shape": [1, 2, 2, 3], "datatype": "UINT8", "data": [0] * 11}],
         400, "11 values"),
        ([{"name": "pixels", "shape": [1, 1, 1, 3], "datatype": "UINT8", "data": [0, 1, 300]}],
         400, "[0, 255]"),
        ([{"name": "pixels", "shape": [1, 1, 1, 3], "datatype": "FP32", "data": [0, 1, 2.5]}],
         400, "[0.0, 1.0]"),
        ([{"name": "pixels", "shape": [1, 2, 2, 4], "datatype": "UINT8", "data": [0] * 16}],
         400, "no 3-channel axis"),
        ([{"name": "pixels", "shape": [1, 1, 1, 3], "datatype": "INT32", "data": [0, 0, 0]}],
         400, "UINT8 or FP32"),
        ([{"name": "pixels", "shape": [1, 600, 600, 3], "datatype": "UINT8", "data": [0]}],
         413, "max_pixels"),
        ([{"name": "image", "shape": [5], "datatype": "BYTES", "data": ["x"] * 5}],
         413, "max_images_per_request"),
        ([{"name": "image", "shape": [1], "datatype": "UINT8", "data": [1]}],
         400, "takes BYTES"),
        ([{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["not base64!"]}],
         400, "base64"),
        ([{"name": "image", "shape": [1], "datatype": "BYTES",
           "data": [base64.b64encode(b"GIF89a....").decode()]}], 415, "not supported"),
        ([{"name": "other", "shape": [1], "datatype": "BYTES", "data": ["x"]}],
         400, "not an input of this model"),
        ([{"name": "image", "shape": [1], "datatype": "WEIRD", "data": ["x"]}],
         400, "inputs.0.datatype"),
    ],
)
def test_bad_inputs_are_4xx_naming_the_problem(inputs, status, needle):
    with pytest.raises(InputError) as caught:
        parse_request(_json(inputs), None, LIMITS)
    assert caught.value.status == status and needle in caught.value.message


def test_bad_binary_framing_and_outputs_are_400():
    header = _json([{"name": "pixels", "shape": [1, 1, 1, 3], "datatype": "UINT8",
                     "parameters": {"binary_data_size": 3}}])
    with pytest.raises(InputError, match="Inference-Header-Content-Length"):
        parse_request(header + b"abc", "99999", LIMITS)
    with pytest.raises(InputError, match="bytes of binary data follow"):
        parse_request(header + b"abcd", str(len(header)), LIMITS)
    body = _json([{"name": "pixels", "shape": [1, 1, 1, 3], "datatype": "UINT8",
                   "data": [1, 2, 3]}], outputs=[{"name": "logits"}])
    with pytest.raises(InputError, match="outputs\\[0\\].name"):
        parse_request(body, None, LIMITS)


def _outcome(probs, tier="small", usd=1e-6, degraded=False) -> ImageOutcome:
    probs = np.asarray(probs, np.float32)
    return ImageOutcome(
        label=int(probs.argmax()), confidence=float(probs.max()), exit_tier=tier,
        exit_index=0, tiers=[], latency_ms=1.0, degraded=degraded, probabilities=probs,
        cost=CostRecord(usd=usd, device_seconds_by_gpu_class={"T4": 0.001}, emulated=True),
    )


def test_response_has_probabilities_topk_and_cascade_parameters():
    outcomes = [_outcome([0.1, 0.6, 0.2, 0.1]), _outcome([0.7, 0.1, 0.1, 0.1], "mid", 2e-6, True)]
    request = InferenceRequest.model_validate({
        "id": "r1",
        "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["x"]}],
        "outputs": [{"name": "probabilities", "parameters": {"classification": 2}},
                    {"name": "label"}, {"name": "cost_usd"}],
    })
    body, header_length = encode_response(request, outcomes, NAMES, "casc", "1")
    assert header_length is None
    answer = json.loads(body)
    assert answer["id"] == "r1" and answer["model_name"] == "casc"
    top, label, cost = answer["outputs"]
    assert top["datatype"] == "BYTES" and top["shape"] == [2, 2]
    assert top["data"][:2] == ["0.600000:1:c1", "0.200000:2:c2"]
    assert label["data"] == ["c1", "c0"] and cost["data"] == pytest.approx([1e-6, 2e-6])
    params = answer["parameters"]
    assert params["exit_tier"] == "small,mid" and params["degraded"] is True
    assert params["cost_usd"] == pytest.approx(3e-6) and params["cost_emulated"] is True


def test_binary_outputs_follow_the_json_header():
    outcomes = [_outcome([0.25, 0.25, 0.4, 0.1])]
    request = InferenceRequest.model_validate({
        "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["x"]}],
        "parameters": {"binary_data_output": True},
    })
    body, header_length = encode_response(request, outcomes, NAMES, "casc", "1")
    header = json.loads(body[:header_length])
    probs, label = header["outputs"]
    size = probs["parameters"]["binary_data_size"]
    assert size == 16 and "data" not in probs
    tail = body[header_length:]
    np.testing.assert_allclose(np.frombuffer(tail[:size], "<f4"), [0.25, 0.25, 0.4, 0.1])
    assert tail[size:] == struct.pack("<I", 2) + b"c2"

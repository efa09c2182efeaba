"""Open Inference Protocol bodies <-> decoded images and cascade outcomes. Pure, no Ray.

Inputs (exactly one per request):
- `image`, BYTES, shape [N]: encoded JPEG or PNG images (base64 strings in JSON, raw bytes
  with the binary-tensor extension), decoded at their native size;
- `pixels`, UINT8 (0..255) or FP32 (0..1), shape [N, H, W, 3] or [N, 3, H, W] (the layout
  is read from the shape; `parameters.layout` "NHWC"/"NCHW" settles [N, 3, H, 3]).
Outputs: `probabilities` FP32 [N, C] (the answering tier's mean over its members; with
`parameters.classification: k` it becomes the top k as BYTES "score:index:label"),
`label` BYTES [N], `exit_tier` BYTES [N], `degraded` BOOL [N], `cost_usd` FP64 [N].
The binary-tensor extension (`Inference-Header-Content-Length`) works both ways.
Every client mistake raises serve_app.decode.InputError (a 4xx).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np
from pydantic import ValidationError

from serve_app.body import describe_validation
from serve_app.decode import InputError, decode_base64, decode_image
from serve_app.oip_schemas import (
    InferenceRequest,
    InferenceResponse,
    RequestInput,
    RequestOutput,
    ResponseOutput,
)
from serve_app.runner import ImageOutcome

HEADER_LENGTH = "Inference-Header-Content-Length"
INPUT_BYTES = "image"
INPUT_PIXELS = "pixels"
OUTPUTS = ("probabilities", "label", "exit_tier", "degraded", "cost_usd")
DEFAULT_OUTPUTS = ("probabilities", "label")


@dataclass(frozen=True)
class ImageLimits:
    """The ingress limits an OIP request is held to (from the config's `ingress`)."""

    max_images: int
    max_pixels: int
    formats: tuple[str, ...] = ("JPEG", "PNG")


def _bad(message: str, code: str = "invalid_request", status: int = 400) -> InputError:
    return InputError(code, message, status)


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """(JSON header, binary tail) of a request body, per Inference-Header-Content-Length."""
    if header_length is None:
        return body, b""
    text = header_length.strip()
    if not text.isdigit() or int(text) > len(body):
        raise _bad(f"header {HEADER_LENGTH}: {text[:20]!r} is not a length within the "
                   f"{len(body)}-byte body")
    return body[: int(text)], body[int(text):]


def parse_request(
    body: bytes, header_length: str | None, limits: ImageLimits
) -> tuple[InferenceRequest, list[np.ndarray]]:
    """The validated request and its images (uint8 HWC, native size)."""
    header, tail = split_body(body, header_length)
    if not header.strip():
        raise _bad("the request body is empty", "empty_body")
    try:
        request = InferenceRequest.model_validate_json(header)
    except ValidationError as exc:
        raise _bad(describe_validation(exc.errors())) from None
    if len(request.inputs) != 1:
        raise _bad(f"inputs: expected exactly one input ({INPUT_BYTES!r} or "
                   f"{INPUT_PIXELS!r}), got {len(request.inputs)}")
    tensor = request.inputs[0]
    raw, used = _binary_part(tensor, tail)
    if used != len(tail):
        raise _bad(f"{len(tail) - used} bytes of binary data follow the tensors declared")
    if tensor.name == INPUT_BYTES:
        images = _encoded_images(tensor, raw, limits)
    elif tensor.name == INPUT_PIXELS:
        images = _pixel_images(tensor, raw, limits)
    else:
        raise _bad(f"inputs[0].name: {tensor.name!r} is not an input of this model; "
                   f"send {INPUT_BYTES!r} (BYTES) or {INPUT_PIXELS!r} (UINT8/FP32)")
    check_outputs(request.outputs)
    return request, images


def _binary_part(tensor: RequestInput, tail: bytes) -> tuple[bytes | None, int]:
    size = (tensor.parameters or {}).get("binary_data_size")
    if size is None:
        if tensor.data is None:
            raise _bad(f"inputs[0] ({tensor.name}): no data and no binary_data_size")
        return None, 0
    if isinstance(size, bool) or not isinstance(size, int) or size < 0 or size > len(tail):
        raise _bad(f"inputs[0].parameters.binary_data_size: {size!r} does not fit the "
                   f"{len(tail)} binary bytes sent")
    if tensor.data is not None:
        raise _bad(f"inputs[0] ({tensor.name}): both data and binary_data_size given")
    return tail[:size], size


def _check_count(n: int, limits: ImageLimits) -> None:
    if n < 1:
        raise _bad("inputs[0].shape: the batch dimension must be at least 1")
    if n > limits.max_images:
        raise _bad(f"inputs[0].shape: {n} images sent, max_images_per_request is "
                   f"{limits.max_images}", "too_many_images", 413)


def _encoded_images(tensor: RequestInput, raw: bytes | None, limits: ImageLimits):
    if tensor.datatype != "BYTES":
        raise _bad(f"inputs[0].datatype: {INPUT_BYTES!r} takes BYTES (encoded JPEG/PNG), "
                   f"got {tensor.datatype}")
    shape = tensor.shape
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise _bad(f"inputs[0].shape: {shape} must be [N] (or [N, 1]) for BYTES")
    _check_count(shape[0], limits)
    if raw is None:
        items = list(_flatten(tensor.data))
        if not all(isinstance(item, str) for item in items):
            raise _bad("inputs[0].data: BYTES elements must be base64 strings in JSON")
        blobs = [decode_base64(text, i) for i, text in enumerate(items)]
    else:
        blobs = _unpack_bytes(raw)
    if len(blobs) != shape[0]:
        raise _bad(f"inputs[0]: shape {shape} says {shape[0]} images, {len(blobs)} sent")
    return [
        decode_image(blob, size=None, max_pixels=limits.max_pixels, where=f"image[{i}]",
                     formats=limits.formats)
        for i, blob in enumerate(blobs)
    ]


def _unpack_bytes(raw: bytes) -> list[bytes]:
    """Elements of a binary BYTES tensor: each a 4-byte little-endian length, then bytes."""
    items, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise _bad("inputs[0]: binary BYTES tensor truncated in a length prefix")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise _bad("inputs[0]: binary BYTES element longer than the data sent")
        items.append(raw[offset : offset + length])
        offset += length
    return items


def _pixel_images(tensor: RequestInput, raw: bytes | None, limits: ImageLimits):
    shape = tensor.shape
    if tensor.datatype not in ("UINT8", "FP32"):
        raise _bad(f"inputs[0].datatype: {INPUT_PIXELS!r} takes UINT8 or FP32, "
                   f"got {tensor.datatype}")
    if len(shape) != 4 or min(shape) < 1:
        raise _bad(f"inputs[0].shape: {shape} must be [N, H, W, 3] or [N, 3, H, W]")
    layout = _layout(tensor)
    _check_count(shape[0], limits)
    height, width = (shape[1], shape[2]) if layout == "NHWC" else (shape[2], shape[3])
    if height * width > limits.max_pixels:
        raise _bad(f"inputs[0].shape: {height}x{width} = {height * width} pixels exceeds "
                   f"max_pixels={limits.max_pixels}", "image_too_large", 413)
    count = int(np.prod(shape))
    values = _tensor_values(tensor, raw, count)
    if tensor.datatype == "UINT8":
        pixels = values.astype(np.uint8)
    else:
        pixels = np.rint(values * 255.0).astype(np.uint8)
    pixels = pixels.reshape(shape)
    if layout == "NCHW":
        pixels = pixels.transpose(0, 2, 3, 1)
    return [np.ascontiguousarray(image) for image in pixels]


def _layout(tensor: RequestInput) -> str:
    declared = (tensor.parameters or {}).get("layout")
    shape = tensor.shape
    if declared is not None:
        if declared not in ("NHWC", "NCHW"):
            raise _bad(f"inputs[0].parameters.layout: {declared!r} is not NHWC or NCHW")
        if (declared == "NHWC" and shape[3] != 3) or (declared == "NCHW" and shape[1] != 3):
            raise _bad(f"inputs[0].shape: {shape} is not {declared} with 3 channels")
        return declared
    if shape[3] == 3:
        return "NHWC"
    if shape[1] == 3:
        return "NCHW"
    raise _bad(f"inputs[0].shape: {shape} has no 3-channel axis; send [N, H, W, 3] or "
               "[N, 3, H, W] (RGB)")


def _tensor_values(tensor: RequestInput, raw: bytes | None, count: int) -> np.ndarray:
    """The tensor's numbers (float64 for FP32, int64 for UINT8), range-checked."""
    fp32 = tensor.datatype == "FP32"
    if raw is not None:
        itemsize = 4 if fp32 else 1
        if len(raw) != count * itemsize:
            raise _bad(f"inputs[0]: shape {tensor.shape} of {tensor.datatype} needs "
                       f"{count * itemsize} bytes, {len(raw)} sent")
        values = np.frombuffer(raw, dtype="<f4" if fp32 else np.uint8).astype(np.float64)
    else:
        flat = list(_flatten(tensor.data))
        if len(flat) != count:
            raise _bad(f"inputs[0].data: {len(flat)} values for shape {tensor.shape} "
                       f"({count} expected)")
        kinds = (int, float) if fp32 else (int,)
        if not all(isinstance(v, kinds) and not isinstance(v, bool) for v in flat):
            kind = "numbers" if fp32 else "integers"
            raise _bad(f"inputs[0].data: {tensor.datatype} values must be {kind}")
        values = np.asarray(flat, dtype=np.float64)
    low, high = (0.0, 1.0) if fp32 else (0, 255)
    if not np.all(np.isfinite(values)) or values.min() < low or values.max() > high:
        raise _bad(f"inputs[0].data: {tensor.datatype} pixel values must lie in "
                   f"[{low}, {high}]")
    return values


def _flatten(data):
    for item in data:
        if isinstance(item, list):
            yield from _flatten(item)
        else:
            yield item


def check_outputs(outputs: list[RequestOutput] | None) -> None:
    for i, output in enumerate(outputs or []):
        if output.name not in OUTPUTS:
            raise _bad(f"outputs[{i}].name: {output.name!r} is not an output of this model; "
                       f"outputs are {', '.join(OUTPUTS)}")
        params = output.parameters or {}
        top = params.get("classification")
        if top is not None and (output.name != "probabilities" or isinstance(top, bool)
                                or not isinstance(top, int) or top < 1):
            raise _bad(f"outputs[{i}].parameters.classification: a positive integer, and "
                       "only on 'probabilities'")
        if not isinstance(params.get("binary_data", False), bool):
            raise _bad(f"outputs[{i}].parameters.binary_data must be true or false")


def cascade_parameters(outcomes: list[ImageOutcome]) -> dict:
    """Response parameters: exit tier(s), degraded, cost (the cost is emulated where the
    GPU classes are; `cost_emulated` says so)."""
    return {
        "exit_tier": ",".join(o.exit_tier or "" for o in outcomes),
        "degraded": any(o.degraded for o in outcomes),
        "cost_usd": float(sum(o.cost.usd for o in outcomes)),
        "device_seconds": float(sum(o.cost.device_seconds for o in outcomes)),
        "cost_emulated": any(o.cost.emulated for o in outcomes),
    }


def _output_tensor(name: str, top: int | None, outcomes, class_names) -> tuple[str, list, list]:
    """(datatype, shape, flat values) of one output."""
    n = len(outcomes)
    if name == "probabilities":
        probs = np.stack([o.probabilities for o in outcomes]).astype(np.float32)
        if top is None:
            return "FP32", list(probs.shape), probs.ravel().tolist()
        k = min(top, probs.shape[1])
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        values = [f"{probs[r, c]:f}:{c}:{class_names[c]}" for r in range(n) for c in order[r]]
        return "BYTES", [n, k], values
    if name == "label":
        return "BYTES", [n], [class_names[o.label] for o in outcomes]
    if name == "exit_tier":
        return "BYTES", [n], [o.exit_tier or "" for o in outcomes]
    if name == "degraded":
        return "BOOL", [n], [bool(o.degraded) for o in outcomes]
    return "FP64", [n], [float(o.cost.usd) for o in outcomes]


def _binary(datatype: str, values: list) -> bytes:
    if datatype == "BYTES":
        parts = [v.encode() for v in values]
        return b"".join(struct.pack("<I", len(p)) + p for p in parts)
    dtype = {"FP32": "<f4", "FP64": "<f8", "BOOL": np.bool_}[datatype]
    return np.asarray(values, dtype=dtype).tobytes()


def encode_response(
    request: InferenceRequest,
    outcomes: list[ImageOutcome],
    class_names: list[str],
    model_name: str,
    model_version: str,
) -> tuple[bytes, int | None]:
    """(body, JSON header length or None): binary tensors follow the JSON where asked."""
    all_binary = bool((request.parameters or {}).get("binary_data_output", False))
    wanted = request.outputs or [RequestOutput(name=name) for name in DEFAULT_OUTPUTS]
    outputs, tail = [], []
    for output in wanted:
        params = output.parameters or {}
        datatype, shape, values = _output_tensor(
            output.name, params.get("classification"), outcomes, class_names)
        tensor = ResponseOutput(name=output.name, shape=shape, datatype=datatype)
        if params.get("binary_data", all_binary):
            blob = _binary(datatype, values)
            tensor.parameters = {"binary_data_size": len(blob)}
            tail.append(blob)
        else:
            tensor.data = values
        outputs.append(tensor)
    response = InferenceResponse(
        model_name=model_name, model_version=model_version, id=request.id,
        parameters=cascade_parameters(outcomes), outputs=outputs,
    )
    header = json.dumps(response.model_dump(exclude_none=True)).encode()
    if not tail:
        return header, None
    return header + b"".join(tail), len(header)

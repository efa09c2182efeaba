"""`coe zoo export --format onnx MODEL`: a member as a self-contained ONNX graph.

The graph takes uint8 pixels (N, 3, S, S) and includes the member's own preprocessing, so
`onnx:<file>` needs nothing else to serve it. Uses torch's TorchScript-based exporter
(dynamo=False), which needs only the `onnx` package; the batch dimension is dynamic.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from pydantic import BaseModel
from torch import nn

OPSET = 17


class ExportResult(BaseModel):
    """What `coe zoo export` wrote."""

    model: str
    path: str
    input_size: int
    opset: int
    weights_sha256: str


class WithPreprocess(nn.Module):
    """uint8 pixels -> the member's preprocessing -> the member's model (logits)."""

    def __init__(self, model: nn.Module, preprocess) -> None:
        super().__init__()
        self.model = model
        self.preprocess = preprocess

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(self.preprocess(pixels))


def export_onnx(spec: str, out: Path, opset: int = OPSET) -> ExportResult:
    """Write member `spec` (a registered name or a torch spec) as an ONNX file at `out`."""
    from zoo.registry import load_member

    member = load_member(spec)
    height, width = member.input_size
    wrapped = WithPreprocess(member.model, member.preprocess).eval()
    sample = torch.zeros((1, 3, height, width), dtype=torch.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # the legacy exporter's deprecation notice and its tracer/constant-folding chatter
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            wrapped, (sample,), str(out), dynamo=False, opset_version=opset,
            input_names=["pixels"], output_names=["logits"],
            dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}},
        )
    return ExportResult(model=spec, path=str(out), input_size=height, opset=opset,
                        weights_sha256=member.weights_sha)


def compare_onnx(spec: str, path: Path, images: int = 16, seed: int = 0) -> float:
    """Max |probability difference| between member `spec` in torch and its ONNX export
    `path` on onnxruntime, on random uint8 images at the member's input size."""
    import numpy as np

    from zoo.registry import load_member

    torch_member = load_member(spec)
    onnx_member = load_member(f"onnx:{path}")
    height, width = torch_member.input_size
    pixels = np.random.default_rng(seed).integers(0, 256, (images, height, width, 3), np.uint8)
    gap = np.abs(torch_member.predict_probs(pixels) - onnx_member.predict_probs(pixels))
    return float(gap.max())

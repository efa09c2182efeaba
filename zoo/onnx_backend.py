"""The `onnx:<file.onnx>` member backend: an ONNX graph run by onnxruntime.

The CUDA execution provider is used where onnxruntime has it and the member sits on a GPU,
else the CPU provider. The session is wrapped in an nn.Module so a member treats it like
any other model (`predict_probs`, `.to()`, `.eval()`). A graph taking uint8 pixels (what
`coe zoo export --format onnx` writes: preprocessing inside the graph) gets the pixels as
they are; a graph taking float gets the CIFAR (or `?preprocess=imagenet`) normalisation.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

KERNEL_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}


def onnx_providers(device: str) -> list[str]:
    """onnxruntime providers for a member on `device`: CUDA first where present."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    wanted = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in available:
        wanted.insert(0, "CUDAExecutionProvider")
    return wanted


class OnnxModule(nn.Module):
    """A forward pass through an onnxruntime session: (N, 3, H, W) tensor -> logits."""

    def __init__(self, path: Path, device: str = "cpu") -> None:
        super().__init__()
        import onnxruntime

        self.path = Path(path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # like torch.set_num_threads(1) in members
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(self.path), sess_options=options, providers=onnx_providers(device)
        )
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        self.takes_uint8 = first.type == "tensor(uint8)"
        self.input_shape = list(first.shape)
        self.weights_sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()
        self.kernel_layers = _kernel_layers(self.path)

    def static_size(self) -> int | None:
        """The square input side fixed in the graph ([N, 3, S, S]), or None if dynamic."""
        dims = self.input_shape[-2:]
        if len(dims) == 2 and all(isinstance(d, int) for d in dims) and dims[0] == dims[1]:
            return int(dims[0])
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        array = x.detach().cpu().numpy()
        array = array.astype(np.uint8 if self.takes_uint8 else np.float32, copy=False)
        (logits,) = self.session.run(None, {self.input_name: np.ascontiguousarray(array)})[:1]
        return torch.from_numpy(np.asarray(logits)).to(x.device)


def _kernel_layers(path: Path) -> int:
    """Convolution and matrix-multiply nodes: on a GPU each is at least one kernel launch."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return sum(1 for node in graph.node if node.op_type in KERNEL_OPS)


def pixels_identity(batch: torch.Tensor) -> torch.Tensor:
    """The preprocessing of a graph that normalises uint8 pixels itself."""
    return batch

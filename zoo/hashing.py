"""A fingerprint of a model's weights, so predictions and plans can name what produced them."""

from __future__ import annotations

import hashlib

from torch import nn


def state_sha256(model: nn.Module) -> str:
    """sha256 over the state dict's names and raw tensor bytes (independent of file format)."""
    digest = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def architecture_sha256(model: nn.Module) -> str:
    """sha256 over the state dict's names, shapes and dtypes: which weights fit this model."""
    digest = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        digest.update(f"{key}\t{tuple(tensor.shape)}\t{tensor.dtype}\n".encode())
    return digest.hexdigest()

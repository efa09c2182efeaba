"""The collage CNN: one forward pass classifies every cell of an s x s collage.

It is the cheap backup of coded-redundancy (collage) inference, arXiv 1904.12222: a group of
s^2 single-image requests is tiled into one collage (zoo.collage_grid) and this model answers
all of them at once, so a straggling member call can be replaced by its image's cell output.

Architecture: cnn_a's convolutional body (3x3 conv-bn-relu + max-pool stages, /8 overall),
which is fully convolutional, so a (3, 32s, 32s) collage becomes a (128, 4s, 4s) map in
which every 32 px cell owns exactly a 4x4 block; an adaptive average pool to s x s gives one
feature vector per cell and a shared 1x1 convolution (cnn_a's linear head) its logits. The
same weights thus serve grid 2 and grid 3. Cost per collage ~= s^2 x cnn_a (~4 MMACs per
cell), far below a tier-0 member such as resnet20 (40.6 MMACs per image).
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.small_cnns import cnn_a

MODEL_NAME = "collage_cnn"
CELL_PIXELS = 32


class CollageCNN(nn.Module):
    """(N, 3, 32s, 32s) normalised collages -> (N, s^2, classes) logits, cells row-major."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        base = cnn_a(num_classes)
        self.body = nn.Sequential(*list(base.children())[:7])  # conv stages, 128 channels
        self.head = nn.Conv2d(128, num_classes, kernel_size=1)

    def forward(self, collages: torch.Tensor) -> torch.Tensor:
        grid = collages.shape[-1] // CELL_PIXELS
        if collages.shape[-1] != grid * CELL_PIXELS or collages.shape[-2] != grid * CELL_PIXELS:
            raise ValueError(
                f"collage of {tuple(collages.shape[-2:])} px is not a grid of "
                f"{CELL_PIXELS} px cells"
            )
        features = nn.functional.adaptive_avg_pool2d(self.body(collages), grid)
        logits = self.head(features)  # (N, C, s, s)
        return logits.flatten(2).transpose(1, 2)  # (N, s*s, C), cell k = (k // s, k % s)

    def load_single_image_head(self, state: dict[str, torch.Tensor]) -> None:
        """Warm start from a trained cnn_a state dict (its body and linear head)."""
        body = {k: v for k, v in state.items() if int(k.split(".")[0]) < 7}
        self.body.load_state_dict(body)
        weight, bias = state["9.weight"], state["9.bias"]
        self.head.weight.data.copy_(weight[:, :, None, None])
        self.head.bias.data.copy_(bias)

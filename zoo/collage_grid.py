"""Build and un-build collages: s x s single images tiled into one image, and back.

A collage is the input of the collage CNN (zoo.collage_cnn): cell k of an s x s grid holds
image k, row-major (row = k // s, col = k % s). A partial collage (fewer than s^2 images,
the tail of a batching window) pads its empty cells with black pixels (uint8 0), the same
padding the collage CNN was trained with, so its outputs for the filled cells stay valid
and the empty cells' outputs are simply ignored. Pure numpy: used by training, serving and
tests alike.
"""

from __future__ import annotations

import numpy as np

SUPPORTED_GRIDS = (2, 3)
PAD_VALUE = 0


def cells(grid: int) -> int:
    """Images per collage of an s x s grid."""
    _check_grid(grid)
    return grid * grid


def cell_box(index: int, grid: int, size: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) pixel box of cell `index` in a collage of `size`-px cells."""
    if not 0 <= index < cells(grid):
        raise ValueError(f"cell index {index} outside a {grid}x{grid} grid")
    row, col = divmod(index, grid)
    return row * size, col * size, (row + 1) * size, (col + 1) * size


def build_collage(images: np.ndarray, grid: int) -> np.ndarray:
    """uint8 (k, H, W, 3) images, 1 <= k <= s^2 -> one uint8 (s*H, s*W, 3) collage.

    Cells k..s^2-1 are padded with PAD_VALUE.
    """
    return build_collages(images[None], np.array([len(images)]), grid)[0]


def build_collages(images: np.ndarray, filled: np.ndarray, grid: int) -> np.ndarray:
    """uint8 (B, s^2, H, W, 3) cell images + filled counts (B,) -> (B, s*H, s*W, 3) collages.

    Cells at positions >= filled[b] are padded (whatever `images` holds there is ignored).
    """
    n_cells = cells(grid)
    images = np.asarray(images)
    if images.ndim != 5 or images.shape[-1] != 3:
        raise ValueError(f"expected (B, cells, H, W, 3) images, got shape {images.shape}")
    batch, k, height, width, _ = images.shape
    if k > n_cells:
        raise ValueError(f"{k} images do not fit a {grid}x{grid} collage ({n_cells} cells)")
    filled = np.asarray(filled, dtype=np.int64)
    if filled.shape != (batch,) or (filled < 1).any() or (filled > k).any():
        raise ValueError(f"filled counts must be in [1, {k}] per collage, got {filled}")
    out = np.full((batch, grid * height, grid * width, 3), PAD_VALUE, dtype=np.uint8)
    for index in range(k):
        top, left = (index // grid) * height, (index % grid) * width
        keep = filled > index
        out[keep, top : top + height, left : left + width] = images[keep, index]
    return out


def split_collage(collage: np.ndarray, grid: int) -> np.ndarray:
    """One (s*H, s*W, 3) collage -> its s^2 cell images (s^2, H, W, 3), row-major."""
    collage = np.asarray(collage)
    height, width = collage.shape[0] // grid, collage.shape[1] // grid
    if collage.shape[0] != grid * height or collage.shape[1] != grid * width:
        raise ValueError(f"collage of shape {collage.shape} is not divisible into {grid}x{grid}")
    out = np.empty((cells(grid), height, width, collage.shape[2]), dtype=collage.dtype)
    for index in range(cells(grid)):
        top, left, bottom, right = cell_box(index, grid, height)
        out[index] = collage[top:bottom, left:right]
    return out


def cell_outputs(per_cell: np.ndarray, filled: int) -> np.ndarray:
    """The rows of a (s^2, C) per-cell output that belong to real images (first `filled`)."""
    per_cell = np.asarray(per_cell)
    if not 0 < filled <= per_cell.shape[0]:
        raise ValueError(f"filled={filled} outside 1..{per_cell.shape[0]}")
    return per_cell[:filled]


def _check_grid(grid: int) -> None:
    if grid not in SUPPORTED_GRIDS:
        raise ValueError(f"grid {grid} is not supported; supported grids: {SUPPORTED_GRIDS}")


def fit_cell(image: np.ndarray, size: int = 32) -> np.ndarray:
    """A uint8 (H, W, 3) image as a (size, size, 3) cell (nearest-neighbour if resized)."""
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {image.shape}")
    if image.shape[:2] == (size, size):
        return image
    rows = (np.arange(size) * image.shape[0] // size).clip(0, image.shape[0] - 1)
    cols = (np.arange(size) * image.shape[1] // size).clip(0, image.shape[1] - 1)
    return image[rows][:, cols]

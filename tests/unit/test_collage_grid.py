"""The collage builder and un-builder: cell <-> image, row-major order, padding, partials."""

import numpy as np
import pytest

from zoo.collage_grid import (
    PAD_VALUE,
    build_collage,
    build_collages,
    cell_box,
    cell_outputs,
    cells,
    fit_cell,
    split_collage,
)


def distinct_images(k, size=32):
    rng = np.random.default_rng(k)
    return rng.integers(1, 256, size=(k, size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("grid", [2, 3])
def test_full_collage_round_trips_every_cell(grid):
    images = distinct_images(grid * grid)
    collage = build_collage(images, grid)
    assert collage.shape == (32 * grid, 32 * grid, 3) and collage.dtype == np.uint8
    np.testing.assert_array_equal(split_collage(collage, grid), images)


def test_cells_are_row_major():
    images = distinct_images(4)
    collage = build_collage(images, 2)
    assert cell_box(1, 2, 32) == (0, 32, 32, 64)  # top right
    assert cell_box(2, 2, 32) == (32, 0, 64, 32)  # bottom left
    np.testing.assert_array_equal(collage[:32, 32:], images[1])
    np.testing.assert_array_equal(collage[32:, :32], images[2])


@pytest.mark.parametrize(("grid", "k"), [(2, 1), (2, 3), (3, 5)])
def test_partial_collage_pads_empty_cells(grid, k):
    images = distinct_images(k)
    parts = split_collage(build_collage(images, grid), grid)
    np.testing.assert_array_equal(parts[:k], images)
    assert (parts[k:] == PAD_VALUE).all()
    assert len(parts) == cells(grid)


def test_batched_builder_respects_per_collage_fill():
    images = distinct_images(8).reshape(2, 4, 32, 32, 3)
    out = build_collages(images, np.array([4, 2]), 2)
    np.testing.assert_array_equal(split_collage(out[0], 2), images[0])
    second = split_collage(out[1], 2)
    np.testing.assert_array_equal(second[:2], images[1, :2])
    assert (second[2:] == PAD_VALUE).all()  # ignored even though images were given


def test_cell_outputs_keep_only_real_images():
    per_cell = np.arange(40, dtype=np.float32).reshape(4, 10)
    np.testing.assert_array_equal(cell_outputs(per_cell, 3), per_cell[:3])
    with pytest.raises(ValueError, match="filled=5"):
        cell_outputs(per_cell, 5)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="grid 4 is not supported"):
        build_collage(distinct_images(4), 4)
    with pytest.raises(ValueError, match="do not fit"):
        build_collage(distinct_images(5), 2)
    with pytest.raises(ValueError, match="not divisible"):
        split_collage(np.zeros((65, 64, 3), dtype=np.uint8), 2)


def test_fit_cell_resizes_other_sizes_and_keeps_32px():
    image = distinct_images(1)[0]
    assert fit_cell(image) is image or np.array_equal(fit_cell(image), image)
    big = np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)  # 64 x 64
    np.testing.assert_array_equal(fit_cell(big), image)

"""The collage CNN: one distribution per cell, grids 2 and 3, cheap, shipped with a record."""

import numpy as np
import pytest
import torch

from zoo.collage_cnn import CollageCNN
from zoo.collage_grid import build_collage


@pytest.mark.parametrize("grid", [2, 3])
def test_one_output_per_cell_row_major(grid):
    model = CollageCNN().eval()
    out = model(torch.zeros(2, 3, 32 * grid, 32 * grid))
    assert out.shape == (2, grid * grid, 10)


def test_cells_do_not_see_far_cells():
    """Each cell's output depends on its own pixels (and a thin border), not distant cells."""
    torch.manual_seed(0)
    model = CollageCNN().eval()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
    other = images.copy()
    other[8] = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)  # change the far corner only

    def run(batch):
        collage = torch.from_numpy(build_collage(batch, 3)).permute(2, 0, 1)[None].float()
        with torch.inference_mode():
            return model(collage / 255.0)[0]

    a, b = run(images), run(other)
    assert torch.allclose(a[0], b[0])  # top-left cell: the bottom-right one is 32 px away
    assert not torch.allclose(a[8], b[8])


def test_collage_costs_about_one_cnn_a_per_cell():
    from zoo.flops import count_macs
    from zoo.small_cnns import cnn_a

    per_cell = count_macs(CollageCNN(), (3, 64, 64)) / 4
    assert per_cell <= 1.05 * count_macs(cnn_a())
    assert per_cell < 0.15 * 40_551_040  # resnet20, a tier-0 member


def test_warm_start_copies_cnn_a():
    """On one 32 px cell the warm-started collage CNN is exactly cnn_a."""
    from zoo.small_cnns import cnn_a

    base = cnn_a()
    model = CollageCNN()
    model.load_single_image_head(base.state_dict())
    image = torch.randn(1, 3, 32, 32)
    base.eval()
    model.eval()
    with torch.inference_mode():
        assert torch.allclose(model(image)[0, 0], base(image)[0], atol=1e-5)


def test_shipped_collage_weights_and_record():
    from zoo.collage_train import CollageTrainRecord
    from zoo.hashing import state_sha256
    from zoo.shipped import (
        MAX_FILE_BYTES,
        WEIGHTS_DIR,
        file_sha256,
        load_shipped_state,
        read_manifest,
    )

    entry = read_manifest()["collage_cnn"]
    path = WEIGHTS_DIR / entry.file
    assert path.stat().st_size == entry.bytes <= MAX_FILE_BYTES
    assert file_sha256(path) == entry.sha256
    model = CollageCNN()
    model.load_state_dict(load_shipped_state("collage_cnn"))
    assert state_sha256(model) == entry.state_sha256
    record = CollageTrainRecord.model_validate(entry.record)
    assert entry.command == record.command and record.command.startswith(
        "coe zoo train-collage --grid 2 ")
    assert record.train_seconds > 0 and record.train_images == 50_000
    full = record.cell_accuracy[0]
    assert full.grid == 2 and full.filled == "full" and len(full.per_cell) == 4
    assert 0.5 < record.test_accuracy == full.mean <= 1.0


def test_training_steps_move_the_weights_and_log_finite_losses():
    """The collage trainer runs its optimiser loop (shared with the single-image trainer)."""
    from zoo.collage_train import CollageTrainConfig, train_collage_model

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 32)
    model = CollageCNN()
    before = model.head.weight.detach().clone()
    config = CollageTrainConfig(epochs=1, batch_collages=4, threads=1, warm_start=False)
    losses = train_collage_model(model, images, labels, config, progress=False)
    assert losses and all(np.isfinite(losses))
    assert not torch.equal(before, model.head.weight.detach())

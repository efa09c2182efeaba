"""Request images: raw JPEG bytes, class-interleaved deterministic order, labels from folders."""

from pathlib import Path

import pytest

from foundation.paths import assets_root
from load_tests.client.images import list_test_files, load_request_images


def _fake_folder(tmp_path: Path) -> Path:
    for name, count in (("bird", 2), ("airplane", 3), ("cat", 1)):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(count):
            (folder / f"{i:04d}.jpg").write_bytes(f"{name}-{i}".encode())
    (tmp_path / "README.txt").write_text("not a class")
    return tmp_path


def test_order_interleaves_sorted_classes(tmp_path):
    files, classes = list_test_files(_fake_folder(tmp_path))
    assert classes == ["airplane", "bird", "cat"]
    assert [(p.parent.name, p.name, label) for p, label in files] == [
        ("airplane", "0000.jpg", 0), ("bird", "0000.jpg", 1), ("cat", "0000.jpg", 2),
        ("airplane", "0001.jpg", 0), ("bird", "0001.jpg", 1), ("airplane", "0002.jpg", 0),
    ]


def test_bodies_are_the_file_bytes_and_limit_applies(tmp_path):
    images = load_request_images(limit=4, root=_fake_folder(tmp_path))
    assert [i.body for i in images] == [b"airplane-0", b"bird-0", b"cat-0", b"airplane-1"]
    assert [i.index for i in images] == [0, 1, 2, 3]
    assert images[1].class_name == "bird" and images[1].label == 1


def test_missing_or_empty_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_request_images(root=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no class folders"):
        load_request_images(root=tmp_path)
    with pytest.raises(ValueError, match="limit"):
        load_request_images(limit=0, root=tmp_path)


@pytest.mark.skipif(not (assets_root() / "data/cifar10-jpeg/test").is_dir(),
                    reason="CIFAR-10-JPEG test folder not in COE_ASSETS")
def test_real_test_images_are_sent_unchanged():
    images = load_request_images(limit=20)
    assert [i.label for i in images[:10]] == list(range(10))
    assert images[0].class_name == "airplane" and images[9].class_name == "truck"
    for image in images:
        assert image.body == Path(image.path).read_bytes()
        assert image.body[:2] == b"\xff\xd8"  # a JPEG start-of-image marker

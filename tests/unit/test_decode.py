"""Image decoding: every mode becomes uint8 RGB 32x32; bad input is a typed InputError."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from serve_app.decode import InputError, decode_base64, decode_image


def encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def rgb_array(size=(32, 32)):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)


def test_png_rgb_round_trips_exactly():
    pixels = rgb_array()
    out = decode_image(encode(Image.fromarray(pixels)))
    assert out.dtype == np.uint8 and out.shape == (32, 32, 3)
    assert np.array_equal(out, pixels)


def test_jpeg_decodes_to_rgb_close_to_source():
    pixels = np.full((32, 32, 3), (200, 40, 90), dtype=np.uint8)
    out = decode_image(encode(Image.fromarray(pixels), "JPEG", quality=95))
    assert out.shape == (32, 32, 3)
    assert np.abs(out.astype(int) - pixels).max() < 8


def test_grayscale_becomes_three_equal_channels():
    gray = Image.fromarray(np.arange(32 * 32, dtype=np.uint16).reshape(32, 32).astype(np.uint8))
    out = decode_image(encode(gray))
    assert np.array_equal(out[..., 0], out[..., 2])
    assert np.array_equal(out[..., 0], np.asarray(gray))


def test_sixteen_bit_grayscale_is_scaled_not_clipped():
    wide = np.full((32, 32), 65535, dtype=np.uint16)
    wide[0, 0] = 0
    out = decode_image(encode(Image.fromarray(wide)))
    assert out[1, 1].tolist() == [255, 255, 255] and out[0, 0].tolist() == [0, 0, 0]


def test_palette_image_converts_to_its_colours():
    pixels = np.zeros((32, 32, 3), dtype=np.uint8)
    pixels[:16] = (255, 0, 0)
    palette = Image.fromarray(pixels).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    out = decode_image(encode(palette))
    assert out[0, 0].tolist() == [255, 0, 0] and out[31, 0].tolist() == [0, 0, 0]


def test_alpha_is_composited_on_white_or_dropped():
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)
    rgba[..., 0] = 200  # red, fully transparent
    data = encode(Image.fromarray(rgba, "RGBA"))
    assert decode_image(data)[0, 0].tolist() == [255, 255, 255]
    assert decode_image(data, alpha="drop")[0, 0].tolist() == [200, 0, 0]


def test_larger_image_is_resized_to_32x32():
    big = np.zeros((128, 96, 3), dtype=np.uint8)
    big[..., 1] = 180
    for fmt, options in (("PNG", {}), ("JPEG", {"quality": 95})):
        out = decode_image(encode(Image.fromarray(big), fmt, **options))
        assert out.shape == (32, 32, 3)
        assert abs(int(out[16, 16, 1]) - 180) < 8


def test_empty_corrupt_and_truncated_inputs():
    with pytest.raises(InputError) as info:
        decode_image(b"")
    assert info.value.code == "empty_image" and info.value.status == 400
    with pytest.raises(InputError) as info:
        decode_image(b"this is not an image at all")
    assert info.value.code == "corrupt_image" and info.value.status == 400
    png = encode(Image.fromarray(rgb_array((64, 64))))
    with pytest.raises(InputError) as info:
        decode_image(png[: len(png) // 2])
    assert info.value.code in {"truncated_image", "corrupt_image"}
    assert "image" in info.value.message


def test_other_image_formats_are_unsupported_media():
    gif = encode(Image.fromarray(rgb_array()), "GIF")
    with pytest.raises(InputError) as info:
        decode_image(gif)
    assert info.value.code == "unsupported_image" and info.value.status == 415


def test_pixel_budget_is_checked_before_decoding():
    # A 4000x4000 PNG of zeros compresses to a few KB: a small decompression bomb.
    bomb = encode(Image.new("L", (4000, 4000)))
    assert len(bomb) < 100_000
    with pytest.raises(InputError) as info:
        decode_image(bomb, max_pixels=1_000_000, where="images[3]")
    assert info.value.code == "image_too_large" and info.value.status == 413
    assert "images[3]" in info.value.message and "4000x4000" in info.value.message


def test_base64_with_data_url_prefix_and_bad_base64():
    data = encode(Image.fromarray(rgb_array()))
    text = base64.b64encode(data).decode()
    assert decode_base64(text) == data
    assert decode_base64("data:image/png;base64," + text) == data
    with pytest.raises(InputError) as info:
        decode_base64("%%%not base64%%%", index=2)
    assert info.value.code == "bad_base64" and "images[2]" in info.value.message
    with pytest.raises(InputError) as info:
        decode_base64("")
    assert info.value.code == "empty_image"

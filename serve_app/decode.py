"""Decode one uploaded image (JPEG/PNG bytes) into the uint8 HWC RGB array the members take.

Pure functions, no Ray: the ingress decodes each image once and every member reuses it.
The pixel count is checked from the header BEFORE pixels are decoded (decompression-bomb
protection), and every bad input raises `InputError` with a stable code for the HTTP layer.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = ("JPEG", "PNG")


class InputError(ValueError):
    """A client-side problem with a request; `status` is the HTTP status to answer with."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def decode_base64(text: str, index: int | None = None) -> bytes:
    """Bytes of a base64 string (a `data:image/...;base64,` prefix is allowed)."""
    where = f"images[{index}]" if index is not None else "image"
    if not isinstance(text, str):
        raise InputError("bad_base64", f"{where}: expected a base64 string")
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError("bad_base64", f"{where}: not valid base64 ({exc})") from None
    if not data:
        raise InputError("empty_image", f"{where}: the image is empty (0 bytes)")
    return data


def decode_image(
    data: bytes,
    size: tuple[int, int] | None = (32, 32),
    max_pixels: int = 1024 * 1024,
    alpha: Literal["white", "drop"] = "white",
    where: str = "image",
    formats: tuple[str, ...] = ACCEPTED_FORMATS,
) -> np.ndarray:
    """uint8 (H, W, 3) RGB array of `size` (H, W) decoded from JPEG or PNG bytes; with
    `size=None`, at the image's native size (the ingress: each member fits it itself).

    Any other exception PIL raises on client bytes (struct/EOF/Index errors on crafted
    files) is still the client's bad image: a 400, never a 500.
    """
    try:
        return _decode_image(data, size, max_pixels, alpha, where, formats)
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError("image_too_large", f"{where}: {exc}", status=413) from None
    except Exception as exc:  # noqa: BLE001 - see docstring
        message = f"{where}: cannot decode the image ({type(exc).__name__}: {exc})"[:300]
        raise InputError("corrupt_image", message) from None


def image_size(
    data: bytes, where: str = "image", formats: tuple[str, ...] = ACCEPTED_FORMATS
) -> tuple[int, int]:
    """(width, height) read from the header only: PIL opens lazily, no pixel is decoded.

    This is what the ingress budgets decode work by, before any decoding happens.
    """
    try:
        image = _open(data, where, formats)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - crafted headers: the client's bad image
        message = f"{where}: cannot read the image header ({type(exc).__name__}: {exc})"[:300]
        raise InputError("corrupt_image", message) from None
    width, height = image.size
    if width < 1 or height < 1:
        raise InputError("corrupt_image", f"{where}: image has no pixels ({width}x{height})")
    return width, height


def _open(data: bytes, where: str, formats: tuple[str, ...]) -> Image.Image:
    if not data:
        raise InputError("empty_image", f"{where}: the image is empty (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data), formats=tuple(formats))
    except UnidentifiedImageError:
        if _is_refused_format(data, formats):
            raise InputError(
                "unsupported_image",
                f"{where}: image format not supported; send {' or '.join(formats)}",
                status=415,
            ) from None
        raise InputError(
            "corrupt_image", f"{where}: not a readable JPEG or PNG image"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        message = f"{where}: cannot read the image header ({exc})"
        raise InputError("corrupt_image", message) from None
    return image


def _decode_image(data, size, max_pixels, alpha, where, formats) -> np.ndarray:
    image = _open(data, where, formats)
    width, height = image.size
    if width < 1 or height < 1:
        raise InputError("corrupt_image", f"{where}: image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise InputError(
            "image_too_large",
            f"{where}: {width}x{height} = {width * height} pixels exceeds max_pixels={max_pixels}",
            status=413,
        )
    target_h, target_w = size or (height, width)
    try:
        if size and image.format == "JPEG" and (width > 2 * target_w and height > 2 * target_h):
            image.draft("RGB", (target_w, target_h))  # DCT-domain downscale: far less work
        image.load()
        image = ImageOps.exif_transpose(image)
        rgb = to_rgb(image, alpha)
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError("image_too_large", f"{where}: {exc}", status=413) from None
    except (OSError, SyntaxError, ValueError) as exc:
        code = "truncated_image" if "truncat" in str(exc).lower() else "corrupt_image"
        raise InputError(code, f"{where}: cannot decode the image ({exc})") from None
    if size and rgb.size != (target_w, target_h):
        rgb = rgb.resize((target_w, target_h), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def to_rgb(image: Image.Image, alpha: Literal["white", "drop"] = "white") -> Image.Image:
    """Any PIL mode (1, L, P, LA, RGBA, CMYK, 16-bit gray ...) as 8-bit RGB."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        wide = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8), "L")
        mode = "L"
    elif mode == "F":
        raise InputError("unsupported_image", "floating-point images are not supported")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        if alpha == "drop":
            return rgba.convert("RGB")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode != "RGB":
        return image.convert("RGB")
    return image


SIGNATURES = {"JPEG": b"\xff\xd8\xff", "PNG": b"\x89PNG\r\n\x1a\n"}


def _is_refused_format(data: bytes, formats: tuple[str, ...] = ACCEPTED_FORMATS) -> bool:
    """True for signatures of image formats we refuse (GIF, BMP, WebP, TIFF, or a JPEG/PNG
    that the config does not allow): 415, not 400."""
    if data.startswith((b"GIF8", b"BM", b"RIFF", b"II*\x00", b"MM\x00*")):
        return True
    return any(data.startswith(sig) for fmt, sig in SIGNATURES.items() if fmt not in formats)

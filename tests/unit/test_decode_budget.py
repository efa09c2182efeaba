"""Decode cost bounded: sizes from headers, pixel budgets (413), a thread pool, deadlines."""

import asyncio
import base64
import io
import json
import threading
import time

import numpy as np
import pytest
from PIL import Image

from cascade.config import IngressConfig
from serve_app import decode as decode_module
from serve_app.admission import ImageBudget, Overloaded
from serve_app.body import ClassifyReader
from serve_app.decode import InputError, image_size
from serve_app.decode_pool import check_pixel_budget


def png(width, height) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


class FakeRequest:
    def __init__(self, body: bytes, content_type="application/json", headers=None):
        self.body = body
        self.headers = {"content-type": content_type, "content-length": str(len(body)),
                        **(headers or {})}

    async def stream(self):
        yield self.body


def json_request(*images: bytes) -> FakeRequest:
    payload = {"images": [base64.b64encode(i).decode() for i in images]}
    return FakeRequest(json.dumps(payload).encode())


def test_pixel_bomb_size_is_read_from_the_header_without_decoding():
    bomb = png(4096, 4096)
    assert len(bomb) < 100_000  # tiny compressed, 16.7 Mpx decoded
    start = time.perf_counter()
    assert image_size(bomb) == (4096, 4096)
    assert time.perf_counter() - start < 0.05


def test_pixel_budget_per_image_and_per_request():
    with pytest.raises(InputError) as one:
        check_pixel_budget([(32, 32), (2000, 2000)], 1024 * 1024, 10**9, True)
    assert one.value.status == 413 and one.value.code == "image_too_large"
    assert "images[1]: 2000x2000" in one.value.message
    with pytest.raises(InputError) as total:
        check_pixel_budget([(1000, 1000)] * 3, 1024 * 1024, 2_500_000, True)
    assert total.value.code == "request_too_large" and "max_request_pixels=2500000" in str(
        total.value)
    assert check_pixel_budget([(32, 32)] * 4, 1024 * 1024, 10**6, True) == 4096


def test_default_limits_refuse_the_4096_square_bomb_before_decoding(monkeypatch):
    decoded = []
    monkeypatch.setattr("serve_app.body.decode_image",
                        lambda *a, **k: decoded.append(1) or np.zeros((32, 32, 3), np.uint8))
    reader = ClassifyReader(IngressConfig())
    with pytest.raises(InputError) as err:
        asyncio.run(reader.images(json_request(png(32, 32), png(4096, 4096))))
    assert err.value.status == 413 and "max_pixels=1048576" in err.value.message
    assert decoded == []  # not even the small image was decoded


def test_decoding_runs_on_the_bounded_pool_not_the_event_loop(monkeypatch):
    threads = []
    real = decode_module.decode_image

    def spy(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr("serve_app.body.decode_image", spy)
    reader = ClassifyReader(IngressConfig(decode_threads=1))
    out = asyncio.run(reader.images(json_request(png(32, 32), png(64, 64))))
    assert [o.shape for o in out] == [(32, 32, 3), (64, 64, 3)]  # native size
    assert len(threads) == 2 and all(t.startswith("coe-decode") for t in threads)
    raw = asyncio.run(reader.images(FakeRequest(png(40, 40), "image/png")))
    assert raw[0].shape == (40, 40, 3) and threads[-1].startswith("coe-decode")


def test_deadline_is_checked_between_images(monkeypatch):
    def slow(*args, **kwargs):
        time.sleep(0.05)
        return np.zeros((32, 32, 3), np.uint8)

    monkeypatch.setattr("serve_app.body.decode_image", slow)
    reader = ClassifyReader(IngressConfig())
    deadline_at = time.perf_counter() + 0.08
    with pytest.raises(InputError) as err:
        asyncio.run(reader.images(json_request(*[png(32, 32)] * 10), deadline_at=deadline_at))
    assert err.value.status == 504 and err.value.code == "deadline_exceeded"
    assert "of 10 images decoded" in err.value.message


def test_admission_is_asked_with_the_image_count_before_decoding(monkeypatch):
    monkeypatch.setattr("serve_app.body.decode_image", lambda *a, **k: pytest.fail("decoded"))
    budget = ImageBudget(limit=4)
    budget.acquire(3)
    reader = ClassifyReader(IngressConfig())
    with pytest.raises(Overloaded) as err:
        asyncio.run(reader.images(json_request(*[png(32, 32)] * 2), admit=budget.acquire))
    assert "max_inflight_images=4" in err.value.message and budget.refused == 1

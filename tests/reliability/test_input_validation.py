"""Item 1: every bad input gets a 4xx JSON error naming the problem, never a 5xx or a hang;
odd-but-valid images (grayscale, palette, alpha, 16-bit) are converted and answered; and a
property test drives the decode path with arbitrary and mutated bytes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from load_tests.chaos.faults import probe_catalogue, run_probes
from serve_app.decode import InputError, decode_image
from tests.reliability.conftest import REL_CONFIG

pytestmark = pytest.mark.timeout(120)


def test_every_bad_input_gets_a_named_4xx_and_odd_images_are_converted(rel_url):
    limits = REL_CONFIG["ingress"]
    probes = probe_catalogue(limits["max_images_per_request"], limits["max_body_bytes"],
                             limits["max_pixels"])
    tallies = run_probes(rel_url + "/v1/classify", probes, rounds=1, timeout_s=30)
    for probe in probes:
        tally = tallies[probe.kind]
        statuses = dict(tally.statuses)
        assert tally.as_expected == tally.count, (probe.kind, statuses, dict(tally.codes))
        if probe.expect == "4xx":
            assert tally.json_errors == tally.count, (probe.kind, dict(tally.codes))
    codes = {kind: next(iter(t.codes)) for kind, t in tallies.items() if t.codes}
    assert codes["empty_body"] == "empty_body"
    assert codes["too_many_images"] == "too_many_images"
    assert codes["over_large_body"] == "body_too_large"
    assert codes["huge_pixel_dimensions"] == "image_too_large"
    assert codes["unsupported_format_gif"] == "unsupported_image"
    assert codes["wrong_content_type"] == "unsupported_media_type"
    assert codes["invalid_base64"] == "bad_base64"
    assert codes["truncated_png"] in {"truncated_image", "corrupt_image"}


def _valid_images() -> list[bytes]:
    rng = np.random.default_rng(1)
    out = []
    for fmt in ("PNG", "JPEG"):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(buffer, fmt)
        out.append(buffer.getvalue())
    return out


VALID = _valid_images()


@st.composite
def mutated(draw) -> bytes:
    """A valid PNG/JPEG with bytes flipped, cut or spliced: the inputs that reach deep."""
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(0, 8))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) if draw(st.booleans()) else bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=2048), mutated()))
def test_decode_never_raises_anything_but_input_error(data):
    try:
        out = decode_image(data, max_pixels=256 * 256)
    except InputError as exc:
        assert 400 <= exc.status < 500 and exc.code and exc.message
    else:
        assert out.shape == (32, 32, 3) and out.dtype == np.uint8

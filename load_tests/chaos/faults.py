"""Fault injection and bad-input probes shared by `coe chaos` and tests/reliability.

- Replica kills go through Ray's actor API (`ray.kill` on the Serve replica actor), the
  way a crashed process or lost node looks to Serve; recovery is timed until Serve runs
  the target number of replicas again, none of them the killed one.
- Bad inputs are a fixed catalogue of malformed requests (and convertible odd images);
  each probe records the status and whether the body is the JSON error shape.
"""

from __future__ import annotations

import base64
import io
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from load_tests.client.retry import retry_after_s, retry_wait_s

REPLICA_PREFIX = "SERVE_REPLICA::"
SERVE_NAMESPACE = "serve"
PROXY_SHED_TEXT = "Request dropped due to backpressure"


# --------------------------------------------------------------------------- replicas
def replica_actor_names(app: str, deployment: str) -> list[str]:
    """Names of the live replica actors of `app`'s `deployment` (sorted)."""
    import ray

    prefix = f"{REPLICA_PREFIX}{app}#{deployment}#"
    named = ray.util.list_named_actors(all_namespaces=True)
    return sorted(
        a["name"] for a in named
        if a.get("namespace") == SERVE_NAMESPACE and a["name"].startswith(prefix)
    )


def running_replicas(app: str, deployment: str) -> int:
    """Replicas Serve reports RUNNING for the deployment (0 if it is not known)."""
    from ray import serve

    status = serve.status().applications.get(app)
    if status is None or deployment not in status.deployments:
        return 0
    return int(status.deployments[deployment].replica_states.get("RUNNING", 0))


def kill_replica(app: str, deployment: str, index: int = 0) -> str:
    """Kill one replica actor of the deployment (no Ray-level restart: Serve must act)."""
    import ray

    names = replica_actor_names(app, deployment)
    if not names:
        raise RuntimeError(f"no live replica of {app}/{deployment} to kill")
    name = names[index % len(names)]
    ray.kill(ray.get_actor(name, namespace=SERVE_NAMESPACE), no_restart=True)
    return name


def wait_recovered(
    app: str, deployment: str, killed: str, target: int, timeout_s: float = 120.0
) -> float | None:
    """Seconds until Serve runs `target` replicas again, none named `killed`; None on
    timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        names = replica_actor_names(app, deployment)
        if (
            killed not in names
            and len(names) >= target
            and running_replicas(app, deployment) >= target
        ):
            return time.monotonic() - start
        time.sleep(0.25)
    return None


# --------------------------------------------------------------------------- bad inputs
def _png(array: np.ndarray, mode: str | None = None, **save: Any) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    image = Image.fromarray(array, mode) if mode else Image.fromarray(array)
    image.save(buffer, format="PNG", **save)
    return buffer.getvalue()


def _encode(image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class Probe:
    """One kind of odd request: how to send it and the status class it must get."""

    kind: str
    request: dict[str, Any]  # httpx request kwargs (content/json/headers)
    expect: str  # "2xx" (converted) or "4xx" (rejected)


def probe_catalogue(max_images: int, max_body_bytes: int, max_pixels: int) -> list[Probe]:
    """The bad (and odd-but-valid) inputs every deployment must survive.

    Sizes follow the app's IngressConfig limits so each probe hits the limit it names.
    """
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    good_png = _png(rgb)
    good_jpeg = _encode(Image.fromarray(rgb), "JPEG")
    png, jpeg, js = (
        {"content-type": "image/png"}, {"content-type": "image/jpeg"},
        {"content-type": "application/json"},
    )
    side = int(np.sqrt(max_pixels)) + 64
    huge = _encode(Image.new("L", (side, side)), "PNG")  # small file, too many pixels
    gray16 = (rng.integers(0, 65536, (32, 32))).astype(np.uint16)
    palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE)
    rgba = np.dstack([rgb, rng.integers(0, 256, (32, 32, 1), dtype=np.uint8)])
    return [
        Probe("empty_body", {"content": b"", "headers": png}, "4xx"),
        Probe("truncated_png", {"content": good_png[: len(good_png) // 2], "headers": png},
              "4xx"),
        Probe("truncated_jpeg", {"content": good_jpeg[: len(good_jpeg) // 2], "headers": jpeg},
              "4xx"),
        Probe("corrupt_bytes", {"content": rng.bytes(2048), "headers": jpeg}, "4xx"),
        Probe("unsupported_format_gif",
              {"content": _encode(Image.fromarray(rgb), "GIF"), "headers": png}, "4xx"),
        Probe("unsupported_format_bmp",
              {"content": _encode(Image.fromarray(rgb), "BMP"), "headers": png}, "4xx"),
        Probe("wrong_content_type", {"content": good_png, "headers": {"content-type":
                                                                          "text/plain"}}, "4xx"),
        Probe("missing_content_type", {"content": good_png, "headers": {"content-type": ""}},
              "4xx"),
        Probe("invalid_base64", {"json": {"images": ["not*base64!"]}}, "4xx"),
        Probe("json_wrong_shape", {"json": {"pictures": [_b64(good_png)]}}, "4xx"),
        Probe("json_wrong_types", {"json": {"images": [1, 2]}}, "4xx"),
        Probe("json_not_json", {"content": b"{\"images\": [", "headers": js}, "4xx"),
        Probe("too_many_images", {"json": {"images": [_b64(good_png)] * (max_images + 1)}},
              "4xx"),
        Probe("over_large_body", {"content": b"\x89PNG" + b"0" * (max_body_bytes + 16),
                                  "headers": png}, "4xx"),
        Probe("huge_pixel_dimensions", {"content": huge, "headers": png}, "4xx"),
        Probe("bad_deadline_header",
              {"content": good_png, "headers": {**png, "X-Coe-Deadline-Ms": "soon"}}, "4xx"),
        Probe("grayscale_converted", {"content": _png(rgb[:, :, 0]), "headers": png}, "2xx"),
        Probe("palette_converted", {"content": _encode(palette, "PNG"), "headers": png}, "2xx"),
        Probe("alpha_converted", {"content": _png(rgba, "RGBA"), "headers": png}, "2xx"),
        Probe("gray16_converted", {"content": _encode(Image.fromarray(gray16), "PNG"),
                                   "headers": png}, "2xx"),
    ]


@dataclass
class ProbeTally:
    """What one probe kind got back over all its tries."""

    count: int = 0
    statuses: Counter = field(default_factory=Counter)
    json_errors: int = 0  # 4xx/5xx bodies of the {"error": {"code", "message"}} shape
    codes: Counter = field(default_factory=Counter)
    as_expected: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "error_codes": dict(self.codes),
            "json_error_bodies": self.json_errors,
            "as_expected": self.as_expected,
        }


def error_code(response) -> str | None:
    """The `error.code` of a JSON error body, else None."""
    try:
        error = response.json()["error"]
        return str(error["code"]) if error.get("message") else None
    except Exception:  # noqa: BLE001 - any non-conforming body
        return None


def post_honouring_retry_after(client, url: str, retries: int, shed: Counter | None = None,
                               rng: random.Random | None = None, **request):
    """POST like a well-behaved client: a 503 that carries Retry-After (overload shed at
    the door, before the body was read) is retried up to `retries` times, waiting as the
    load generator does (`load_tests.client.retry.retry_wait_s`). Each shed is counted in
    `shed['503']`; the last answer wins."""
    rng = rng or random.Random(0)
    for attempt in range(retries + 1):
        response = client.post(url, **request)
        wait_s = retry_after_s(response.headers)
        if response.status_code != 503 or wait_s is None or attempt == retries:
            return response
        if shed is not None:
            shed["503"] += 1
        time.sleep(retry_wait_s(wait_s, attempt, rng))
    return response


def run_probes(
    classify_url: str, probes: list[Probe], rounds: int = 3, timeout_s: float = 30.0,
    on_response: Callable[[Probe, Any], None] | None = None, overload_retries: int = 0,
    shed: Counter | None = None,
) -> dict[str, ProbeTally]:
    """Send every probe `rounds` times; tally statuses per kind (a timeout counts as 0).
    With `overload_retries`, a 503 + Retry-After is retried (counted in `shed`)."""
    import httpx

    tallies: dict[str, ProbeTally] = {p.kind: ProbeTally() for p in probes}
    with httpx.Client(timeout=timeout_s) as client:
        for _ in range(rounds):
            for probe in probes:
                tally = tallies[probe.kind]
                tally.count += 1
                try:
                    response = post_honouring_retry_after(
                        client, classify_url, overload_retries, shed, **probe.request)
                except httpx.HTTPError:
                    tally.statuses[0] += 1
                    continue
                tally.statuses[response.status_code] += 1
                klass = f"{response.status_code // 100}xx"
                if klass == probe.expect:
                    tally.as_expected += 1
                if response.status_code >= 400:
                    code = error_code(response)
                    tally.json_errors += int(code is not None)
                    tally.codes[code or "(not json)"] += 1
                if on_response is not None:
                    on_response(probe, response)
    return tallies


# --------------------------------------------------------------------------- accounting
def client_accounting(records) -> dict[str, int]:
    """From load records: sent, answered exactly once, lost (timeout/error), proxy sheds.

    A record exists per sent request by construction (load_tests.client.generator), so a
    duplicate or missing `seq` would mean the client lost track of a request.
    """
    seqs = [r.seq for r in records]
    duplicates = len(seqs) - len(set(seqs))
    missing = (max(seqs) + 1 - len(set(seqs))) if seqs else 0
    answered = sum(1 for r in records if r.outcome == "answered")
    shed = sum(
        1 for r in records
        if r.status == 503 and (r.error or "").startswith(PROXY_SHED_TEXT)
    )
    malformed = sum(
        1 for r in records
        if r.outcome == "answered" and (
            (r.status is not None and 200 <= r.status < 300 and not r.ok)
            or (r.status is not None and r.status >= 400 and r.error is None)
        )
    )
    return {
        "sent": len(records),
        "answered": answered,
        "lost": len(records) - answered,
        "duplicate_seq": duplicates,
        "missing_seq": missing,
        "shed_by_proxy_503": shed,
        "reached_ingress": answered - shed,
        "malformed_responses": malformed,
    }

"""Two `coe chaos` phases: a pixel-bomb flood and a member slowed until it times out.

- pixel bomb: one client sends the 32 x 4096x4096 PNG request in a loop while /healthz is
  polled and normal traffic runs; /healthz p99 must stay <= 100 ms and the normal classify
  p99 <= 2x its p99 measured just before, without the attack.
- quorum: one first-tier member is delayed past `member_timeout_s` (replica fault hook,
  COE_CHAOS_FAULTS=1). The same labelled test-half images are answered without and with
  the fault (paired, every image once): the 200 answers' accuracy must stay >= the
  unfaulted accuracy - 1 point, and every image whose tier lacked a quorum must have
  escalated or been marked degraded (never a silent single-vote exit).
Every figure is measured in the run; device time on CPU is emulated.
"""

from __future__ import annotations

import base64
import io
import threading
import time
from typing import Any

import numpy as np

HEALTHZ_P99_BOUND_MS = 100.0
CLASSIFY_P99_FACTOR = 2.0
ACCURACY_SLACK = 0.01


def bomb_body(count: int = 32, side: int = 4096) -> bytes:
    """The attack request: `count` PNGs of side x side (a few tens of KB each) in JSON."""
    import json

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (side, side)).save(buffer, format="PNG", optimize=True)
    text = base64.b64encode(buffer.getvalue()).decode()
    return json.dumps({"images": [text] * count}).encode()


def _p99(values: list[float]) -> float | None:
    return round(float(np.percentile(values, 99)), 1) if values else None


def pixel_bomb_phase(base: str, images, seconds: float, load) -> dict[str, Any]:
    """`load(url, images, spec, seconds)` is the chaos run's load runner."""
    import httpx

    url = base + "/v1/classify"
    before = load(url, images, "closed:2", seconds)
    body = bomb_body()
    stop = threading.Event()
    statuses: dict[str, int] = {}
    health_ms: list[float] = []
    attack_ms: list[float] = []

    def attacker() -> None:
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                start = time.perf_counter()
                try:
                    code = str(client.post(url, content=body, headers={
                        "content-type": "application/json"}).status_code)
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                attack_ms.append((time.perf_counter() - start) * 1000)
                statuses[code] = statuses.get(code, 0) + 1

    def health() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                start = time.perf_counter()
                client.get(base + "/healthz")
                health_ms.append((time.perf_counter() - start) * 1000)
                time.sleep(0.05)

    threads = [threading.Thread(target=attacker, daemon=True),
               threading.Thread(target=health, daemon=True)]
    for thread in threads:
        thread.start()
    during = load(url, images, "closed:2", seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    base_p99 = before.summary.latency.p99_ms
    under_p99 = during.summary.latency.p99_ms
    healthz_p99 = _p99(health_ms)
    ok = (healthz_p99 is not None and healthz_p99 <= HEALTHZ_P99_BOUND_MS
          and base_p99 is not None and under_p99 is not None
          and under_p99 <= CLASSIFY_P99_FACTOR * base_p99
          and set(statuses) <= {"413"})
    return {
        "attack": {"request_bytes": len(body), "images_per_request": 32,
                   "pixels_per_image": 4096 * 4096, "statuses": statuses,
                   "p50_ms": round(float(np.median(attack_ms)), 1) if attack_ms else None},
        "healthz": {"count": len(health_ms), "p99_ms": healthz_p99,
                    "bound_ms": HEALTHZ_P99_BOUND_MS},
        "classify_p99_ms": {"without_attack": base_p99, "under_attack": under_p99,
                            "bound_ms": None if base_p99 is None
                            else round(CLASSIFY_P99_FACTOR * base_p99, 1)},
        "classify_status_counts": during.summary.status_counts,
        "ok": bool(ok),
    }


def classify_each_once(url: str, images, per_request: int = 16, workers: int = 8,
                       shed_retries: int = 60) -> list[dict]:
    """Every labelled image answered once, in JSON requests of `per_request` images from
    `workers` threads; a shed request (503 + Retry-After) is re-sent like a well-behaved
    client would (`faults.post_honouring_retry_after`), so the set is the same on both
    sides of the quorum comparison. One row per image, in the input order."""
    import concurrent.futures
    import json
    from collections import Counter

    import httpx

    from load_tests.chaos.faults import post_honouring_retry_after

    chunks = [images[i:i + per_request] for i in range(0, len(images), per_request)]

    def send(chunk) -> list[dict]:
        body = json.dumps({"images": [base64.b64encode(im.body).decode() for im in chunk]})
        shed: Counter = Counter()
        with httpx.Client(timeout=120) as client:
            response = post_honouring_retry_after(
                client, url, shed_retries, shed, content=body,
                headers={"content-type": "application/json"})
        retries = shed["503"]
        if response.status_code != 200:
            return [{"index": im.index, "status": response.status_code, "retries": retries}
                    for im in chunk]
        return [{"index": im.index, "status": 200, "retries": retries,
                 "label": pred["label"], "correct": pred["label"] == im.label,
                 "degraded": pred["degraded"], "tiers": pred["tiers"]}
                for im, pred in zip(chunk, response.json()["predictions"], strict=True)]

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return [row for rows in pool.map(send, chunks) for row in rows]


def summarise_stream(rows: list[dict]) -> dict[str, Any]:
    """Accuracy of the 200s and the quorum audit: every tier that lacked its quorum must
    have escalated or marked its answer degraded; a silent exit is a violation."""
    ok = [r for r in rows if r["status"] == 200]
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[str(row["status"])] = statuses.get(str(row["status"]), 0) + 1
    below = marked = silent = 0
    for row in ok:
        for tier in row["tiers"]:
            if tier.get("quorum_met") is False:
                below += 1
                if tier["decision"] == "escalate" or row["degraded"]:
                    marked += 1
                else:
                    silent += 1
    return {
        "images": len(rows), "status_counts": statuses,
        "accuracy": round(sum(r["correct"] for r in ok) / len(ok), 4) if ok else None,
        "degraded": sum(bool(r["degraded"]) for r in ok),
        "below_quorum": below, "escalated_or_marked": marked, "silent_exits": silent,
        "shed_retries": sum(r.get("retries", 0) for r in rows),
    }


def paired_changes(clean: list[dict], faulted: list[dict]) -> dict[str, int]:
    """Image by image over the same set: answers whose label changed, and in which
    direction their correctness moved (the fault's effect without sampling noise)."""
    before = {r["index"]: r for r in clean if r["status"] == 200}
    both = [(before[r["index"]], r) for r in faulted
            if r["status"] == 200 and r["index"] in before]
    return {
        "paired_images": len(both),
        "label_changed": sum(a["label"] != b["label"] for a, b in both),
        "became_wrong": sum(a["correct"] and not b["correct"] for a, b in both),
        "became_right": sum(b["correct"] and not a["correct"] for a, b in both),
    }


def client_shape(door_images: int) -> tuple[int, int]:
    """(images per request, worker threads) that fit the ingress's image door, so the
    client is not mostly re-sending shed requests: about four requests in flight."""
    per_request = max(1, min(16, door_images // 4))
    return per_request, max(1, min(8, door_images // per_request))


def quorum_phase(app: str, deployment: str, base: str, images,
                 member_timeout_s: float, door_images: int) -> dict[str, Any]:
    """Slow one member past the timeout; the same labelled images are answered without and
    with the fault, and the faulted accuracy is judged against the unfaulted one."""
    from ray import serve

    url = base + "/v1/classify"
    per_request, workers = client_shape(door_images)
    handle = serve.get_deployment_handle(deployment, app_name=app)
    clean_rows = classify_each_once(url, images, per_request, workers)
    delay = member_timeout_s + 1.0
    replicas = _set_delay_everywhere(handle, delay)
    try:
        faulted_rows = classify_each_once(url, images, per_request, workers)
    finally:
        _set_delay_everywhere(handle, 0.0)
    clean, faulted = summarise_stream(clean_rows), summarise_stream(faulted_rows)
    reference, accuracy = clean["accuracy"], faulted["accuracy"]
    answered = faulted["status_counts"].get("200", 0) == len(images)
    ok = (reference is not None and accuracy is not None and answered
          and accuracy >= reference - ACCURACY_SLACK and faulted["silent_exits"] == 0
          and faulted["below_quorum"] > 0)
    return {
        "slowed_member": deployment, "delay_s": delay, "member_timeout_s": member_timeout_s,
        "client": {"images_per_request": per_request, "workers": workers},
        "replicas_slowed": replicas, "unfaulted": clean, "faulted": faulted,
        "paired": paired_changes(clean_rows, faulted_rows),
        "reference_note": "reference = the same labelled images (test half, never "
                          "calibrated on) answered without the fault just before",
        "accuracy_bound": None if reference is None else round(reference - ACCURACY_SLACK, 4),
        "ok": bool(ok),
    }


def _set_delay_everywhere(handle, seconds: float, attempts: int = 40) -> int:
    """Calls set_fault_delay until every replica answered (the router spreads the calls)."""
    seen: set[int] = set()
    for _ in range(attempts):
        info = handle.info.remote().result(timeout_s=60)
        handle.set_fault_delay.remote(seconds).result(timeout_s=60)
        seen.add(info["pid"])
    return len(seen)

"""Locust file for coe-serve: the same request mix as `coe load`, for Locust users.

Each user POSTs raw CIFAR-10-JPEG test images (not re-encoded) to /v1/classify, marks
non-2xx and malformed answers as failures, and reports two custom metrics as Locust request
events: `EXIT <tier>` (latency of requests that left at that tier) and `ACCURACY correct` /
`ACCURACY wrong`. At the end it prints accuracy and exits per tier.

    locust -f load_tests/client/locustfile.py --headless -u 8 -r 8 -t 60s \
        --host http://127.0.0.1:8000 [--coe-images 1000] [--coe-path /v1/classify]
"""

from __future__ import annotations

import itertools
from collections import Counter

from locust import HttpUser, constant, events, task

from load_tests.client.images import RequestImage, load_request_images

_state: dict = {"images": None, "next": itertools.count(), "exits": Counter(), "correct": 0,
                "ok": 0}


@events.init_command_line_parser.add_listener
def _add_arguments(parser) -> None:
    parser.add_argument("--coe-images", type=int, default=1000, env_var="COE_LOAD_IMAGES",
                        help="distinct JPEG test images to cycle through")
    parser.add_argument("--coe-path", default="/v1/classify", env_var="COE_LOAD_PATH",
                        help="path of the classify endpoint on --host")


def _images(environment) -> list[RequestImage]:
    """Load the request bodies once per process, on first use (not at import)."""
    if _state["images"] is None:
        limit = getattr(environment.parsed_options, "coe_images", 1000)
        _state["images"] = load_request_images(limit)
    return _state["images"]


def _record_metric(environment, kind: str, name: str, response_time_ms: float) -> None:
    environment.events.request.fire(
        request_type=kind, name=name, response_time=response_time_ms, response_length=0,
        exception=None, context={},
    )


@events.quitting.add_listener
def _print_summary(environment, **_kwargs) -> None:
    ok = _state["ok"]
    if ok:
        accuracy = _state["correct"] / ok * 100
        exits = ", ".join(f"{k}: {v}" for k, v in sorted(_state["exits"].items()))
        print(f"coe: {ok} ok predictions, accuracy {accuracy:.2f}%, exits per tier: {exits}")


class ClassifyUser(HttpUser):
    """Sends one image per request, back to back (closed loop, like `coe load closed:N`)."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.images = _images(self.environment)
        self.path = getattr(self.environment.parsed_options, "coe_path", "/v1/classify")

    @task
    def classify(self) -> None:
        image = self.images[next(_state["next"]) % len(self.images)]
        with self.client.post(
            self.path, data=image.body, headers={"content-type": "image/jpeg"},
            name=self.path, catch_response=True,
        ) as response:
            if not 200 <= response.status_code < 300:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
                return
            try:
                prediction = response.json()["predictions"][0]
                label = int(prediction["label"])
                tier = str((prediction.get("exit_tier") or {}).get("name", "?"))
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                response.failure(f"bad response body: {type(exc).__name__}: {exc}")
                return
            response.success()
        latency_ms = response.elapsed.total_seconds() * 1000
        _state["ok"] += 1
        _state["exits"][tier] += 1
        correct = label == image.label
        _state["correct"] += int(correct)
        _record_metric(self.environment, "EXIT", tier, latency_ms)
        _record_metric(self.environment, "ACCURACY", "correct" if correct else "wrong", latency_ms)

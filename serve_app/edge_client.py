"""The edge client: run the cascade's first tier(s) on this CPU, send only undecided images.

Same member code (zoo.registry.LoadedMember.predict_probs, the members' own transforms),
same decoder (serve_app.decode) and the same exit-policy function
(cascade.policies.decide_tier) as the server, so an image the edge answers gets the answer
the server would have given. The client reads the cascade from GET /v1/cascade and refuses
to start (EdgeMismatchError) unless its local models' weight hashes equal the server's.

Every prediction carries its accounting: bytes up and down (HTTP request and response,
headers included), edge device time (measured CPU thread time, or EMULATED on an optional
catalog GPU class with its price), cloud device time and dollars (the server's cost
record), and the end-to-end latency seen here. No Ray: an edge device does not run one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Literal

import httpx
import numpy as np
from pydantic import BaseModel, Field

from cascade.policies import decide_tier
from cost_model.record import member_key
from serve_app.decode import decode_image
from serve_app.edge_protocol import (
    EDGE_VOTES_HEADER,
    START_TIER_HEADER,
    CascadeDescription,
    policy_fingerprint,
)
from serve_app.runner import TierTrace


class EdgeMismatchError(RuntimeError):
    """The server's cascade is not the one this client can run locally."""


class EdgeRequestError(RuntimeError):
    """The server refused or failed an escalated image (status and its error body)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status


class EdgePrediction(BaseModel):
    """One answer as the edge client saw it, with every byte and second accounted."""

    label: int
    class_name: str
    exit_tier: str
    exit_index: int
    answered_at: Literal["edge", "cloud"]
    tiers: list[TierTrace] = Field(description="edge tiers (site=edge), then cloud tiers")
    bytes_up: int = Field(description="HTTP request bytes sent (0 when answered at the edge)")
    bytes_down: int = Field(description="HTTP response bytes received")
    edge_cpu_seconds: float = Field(description="measured CPU thread time of the edge tiers")
    edge_device_seconds: float = Field(
        description="edge device time: the CPU time, or EMULATED on edge_gpu_class"
    )
    edge_gpu_class: str | None = Field(description="catalog class that prices the edge, if any")
    edge_usd: float | None = Field(description="edge dollars (None: unpriced own device)")
    cloud_device_seconds: float
    cloud_usd: float
    cloud_emulated: bool = Field(description="the server's device time was emulated (no GPU)")
    latency_ms: float = Field(description="end to end, decode to answer, measured here")
    degraded: bool = False


def request_bytes(request: httpx.Request) -> int:
    """Bytes of an HTTP/1.1 request on the wire: request line, headers, body."""
    line = len(request.method) + len(request.url.raw_path) + len(" HTTP/1.1\r\n") + 1
    headers = sum(len(k) + len(v) + 4 for k, v in request.headers.raw)
    return line + headers + 2 + len(request.content)


def response_bytes(response: httpx.Response) -> int:
    """Bytes of an HTTP/1.1 response on the wire: status line, headers, body as sent."""
    line = len(f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n")
    headers = sum(len(k) + len(v) + 4 for k, v in response.headers.raw)
    return line + headers + 2 + response.num_bytes_downloaded


def fetch_description(http: httpx.Client) -> CascadeDescription:
    """GET /v1/cascade, validated (the client's copy of the server's decision rules)."""
    response = http.get("/v1/cascade")
    if response.status_code != 200:
        raise EdgeMismatchError(f"GET /v1/cascade: HTTP {response.status_code}")
    return CascadeDescription.model_validate(
        response.json(), context={"check_models": False}
    )


class _EdgeTier:
    """One tier loaded locally: its config, members and each member's layer count."""

    def __init__(self, tier, index: int, loaded: list) -> None:
        self.tier, self.index, self.loaded = tier, index, loaded
        self.names = [m.member_name for m in tier.members]


class EdgeClient:
    """Classify images with the first `edge_tiers` tiers here and the rest on the server.

    `edge_tiers=0` sends every image (the all-cloud client, same accounting). `loader`
    loads a member by model spec (default zoo.registry.load_member on the CPU).
    """

    def __init__(
        self,
        url: str,
        edge_tiers: int = 1,
        *,
        edge_class: str | None = None,
        catalog: str | None = None,
        send_votes: bool = True,
        timeout_s: float = 60.0,
        http: httpx.Client | None = None,
        loader: Callable[[str], object] | None = None,
    ) -> None:
        self.http = http or httpx.Client(base_url=url.rstrip("/"), timeout=timeout_s)
        self.cascade = fetch_description(self.http)
        last = len(self.cascade.tiers) - 1
        if not 0 <= edge_tiers <= last:
            raise ValueError(f"edge_tiers must be 0..{last} for this {last + 1}-tier cascade")
        if policy_fingerprint(self.cascade) != self.cascade.policy_fingerprint:
            raise EdgeMismatchError("the server's policy_fingerprint does not match its own rules")
        self.edge_tiers, self.send_votes = edge_tiers, send_votes
        self.class_names = [self.cascade.class_name(i) for i in range(self.cascade.num_classes)]
        self.tiers = self._load_tiers(loader)
        self._pricing = self._edge_pricing(edge_class, catalog)
        self.edge_class = edge_class

    def _load_tiers(self, loader) -> list[_EdgeTier]:
        if self.edge_tiers == 0:
            return []
        if loader is None:
            from zoo.registry import load_member

            loader = load_member
        tiers, mismatched = [], []
        for index, tier in enumerate(self.cascade.tiers[: self.edge_tiers]):
            loaded = [_load(loader, tier.name, m) for m in tier.members]
            for member, model in zip(tier.members, loaded, strict=True):
                key = member_key(tier.name, member.member_name)
                served = self.cascade.weights_sha256.get(key)
                if served != model.weights_sha:
                    mismatched.append(f"{key} ({member.model}): local "
                                      f"{model.weights_sha[:12]}, server {str(served)[:12]}")
            tiers.append(_EdgeTier(tier, index, loaded))
        if mismatched:
            raise EdgeMismatchError(
                "refusing to run the edge tier: weights differ from the server's: "
                + "; ".join(mismatched)
            )
        return tiers

    def _edge_pricing(self, edge_class: str | None, catalog: str | None):
        """(DeviceClock, layers per member) to EMULATE edge time on a catalog class."""
        if edge_class is None or not self.tiers:
            return None
        from cost_model.catalog import load_catalog
        from cost_model.device_time import DeviceClock
        from zoo.calibrate import ensure_calibration
        from zoo.flops import count_layers

        clock = DeviceClock(load_catalog(catalog), calibration=ensure_calibration())
        clock.catalog.get(edge_class)  # unknown class: KeyError naming the known ones
        layers = [[count_layers(m.model) for m in t.loaded] for t in self.tiers]
        return clock, layers

    def close(self) -> None:
        self.http.close()

    def classify(self, data: bytes) -> EdgePrediction:
        """The answer for one JPEG/PNG image: local if an edge tier exits, else the server's."""
        start = time.perf_counter()
        limits = self.cascade.ingress
        image = decode_image(data, max_pixels=limits.max_pixels,
                             formats=tuple(limits.allowed_formats))
        traces: list[TierTrace] = []
        cpu = device = 0.0
        for position, edge_tier in enumerate(self.tiers):
            trace, seconds, dev = self._run_tier(position, edge_tier, image)
            traces.append(trace)
            cpu, device = cpu + seconds, device + dev
            if trace.decision == "exit":
                return self._local(trace, traces, cpu, device, start)
        return self._escalate(data, traces, cpu, device, start)

    def _run_tier(self, position: int, edge_tier: _EdgeTier, image: np.ndarray):
        rows, cpu, device = [], 0.0, 0.0
        for m, loaded in enumerate(edge_tier.loaded):
            began = time.thread_time()
            rows.append(loaded.predict_probs(image[None].copy())[0])
            seconds = time.thread_time() - began
            cpu += seconds
            device += self._device_seconds(seconds, position, m)
        probs = np.stack(rows)[:, None, :]
        policy = edge_tier.tier.exit_policy
        decision = decide_tier(probs, policy.kind, policy.threshold, edge_tier.tier.combine)
        exits = bool(decision.exits[0])
        trace = TierTrace(
            tier=edge_tier.tier.name, index=edge_tier.index,
            votes={n: int(decision.votes[m, 0]) for m, n in enumerate(edge_tier.names)},
            label=int(decision.labels[0]), confidence=float(decision.confidence[0]),
            agreement=float(decision.agreement[0]),
            decision="exit" if exits else "escalate", policy_met=exits, site="edge",
        )
        return trace, cpu, device

    def _device_seconds(self, cpu_seconds: float, position: int, member: int) -> float:
        if self._pricing is None:
            return cpu_seconds
        clock, layers = self._pricing
        return clock.call_seconds(cpu_seconds, self.edge_class,
                                  layers=layers[position][member], emulated=True)

    def _edge_usd(self, device_seconds: float) -> float | None:
        if self._pricing is None:
            return None
        return device_seconds * self._pricing[0].usd_per_second(self.edge_class)

    def _local(self, trace, traces, cpu, device, start) -> EdgePrediction:
        return EdgePrediction(
            label=trace.label, class_name=self.class_names[trace.label], exit_tier=trace.tier,
            exit_index=trace.index, answered_at="edge", tiers=traces, bytes_up=0, bytes_down=0,
            edge_cpu_seconds=cpu, edge_device_seconds=device, edge_gpu_class=self.edge_class,
            edge_usd=self._edge_usd(device), cloud_device_seconds=0.0, cloud_usd=0.0,
            cloud_emulated=False, latency_ms=(time.perf_counter() - start) * 1000.0,
        )

    def _escalate(self, data: bytes, traces, cpu, device, start) -> EdgePrediction:
        headers = {"Content-Type": _content_type(data)}
        if self.edge_tiers:
            headers[START_TIER_HEADER] = str(self.edge_tiers)
            if self.send_votes:
                votes = {t.tier: t.votes for t in traces}
                headers[EDGE_VOTES_HEADER] = json.dumps([votes], separators=(",", ":"))
        request = self.http.build_request("POST", "/v1/classify", content=data, headers=headers)
        response = self.http.send(request)
        if response.status_code != 200:
            raise EdgeRequestError(response.status_code, response.text)
        answer = response.json()["predictions"][0]
        cost = answer["cost"]
        tiers = [TierTrace(**t) for t in answer["tiers"]]
        if not any(t.site == "edge" for t in tiers):
            tiers = traces + tiers
        return EdgePrediction(
            label=answer["label"], class_name=answer["class_name"],
            exit_tier=answer["exit_tier"]["name"], exit_index=answer["exit_tier"]["index"],
            answered_at="cloud", tiers=tiers, bytes_up=request_bytes(request),
            bytes_down=response_bytes(response), edge_cpu_seconds=cpu,
            edge_device_seconds=device, edge_gpu_class=self.edge_class if self.tiers else None,
            edge_usd=self._edge_usd(device) if self.tiers else None,
            cloud_device_seconds=sum(cost["device_seconds_by_gpu_class"].values()),
            cloud_usd=cost["usd"], cloud_emulated=bool(cost.get("emulated")),
            latency_ms=(time.perf_counter() - start) * 1000.0,
            degraded=bool(answer.get("degraded")),
        )


def _load(loader, tier: str, member):
    """A member the server runs, loaded here; a model this side lacks is a mismatch."""
    try:
        return loader(member.model)
    except (ValueError, FileNotFoundError) as exc:  # unknown name, weights not here
        raise EdgeMismatchError(
            f"cannot run {tier}/{member.member_name} ({member.model}) locally: {exc}"
        ) from exc


def _content_type(data: bytes) -> str:
    return "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"

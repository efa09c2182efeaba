"""What a member deployment returns for one image; shared by the member and the runner.

Kept free of Ray and torch so the runner's unit tests can build these by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MemberResult:
    """One member's output for one image and the device time it cost.

    `device_seconds` is the forward-pass time split evenly over the batch; on a CPU it is
    the EMULATED time on the tier's GPU class (cost_model.device_time: floors + work) and
    `emulated` is True; on a real GPU it is the measured, synchronised time.
    `source` is "collage" when the member straggled or failed and the collage CNN's cell
    output stands in for it (serve_app.redundancy); its device time is billed separately.
    """

    probs: np.ndarray  # (C,) float32 softmax
    device_seconds: float
    cpu_seconds: float
    batch_size: int
    emulated: bool
    # measured on a CUDA device that is not of the tier's (billed) GPU class
    billed_class_mismatch: bool = False
    source: str = "member"
    note: str = ""
    wasted_device_seconds: float = 0.0  # this replica's abandoned work since its last answer
    # Wall-clock stamps (time.time()) of the call's parts: serve_app.call_anatomy. 0 = unset.
    sent_at: float = 0.0  # the caller sent the call
    arrived_at: float = 0.0  # the member's handler began
    forward_started_at: float = 0.0  # the forward thread began (resize + forward)
    forward_ended_at: float = 0.0
    received_at: float = 0.0  # the caller had the result

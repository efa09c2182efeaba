"""Replica start-up on idle CPU time only, on a CPU-only machine that emulates GPUs.

A new member replica (a scale-up, or the replacement of a killed one) spends about 3 CPU-s
in its constructor here (importing torch, loading and checking the model), measured with
`resource.getrusage` around `MemberDeployment.__init__`. On a GPU cluster that work runs on
the new node's host CPU; on one shared CPU it runs on the cores that are serving, and the
soak's minutes with a replica kill had up to 2.4x the p99 of the first minute
(docs/BENCHMARKS.md section 4). Linux SCHED_IDLE runs a thread only when no normal thread
wants the core, so the constructor takes longer and the serving replicas do not notice.
Leaving SCHED_IDLE needs CAP_SYS_NICE, so this is done only as root (CI and these machines
run as root); otherwise, on a GPU node, or with COE_IDLE_START=0, it does nothing.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

IDLE_START_ENV = "COE_IDLE_START"
logger = logging.getLogger(__name__)


def idle_start_applies() -> bool:
    """Root (so the thread can return to normal scheduling), Linux, no GPU, not disabled."""
    return (os.environ.get(IDLE_START_ENV, "1") != "0" and hasattr(os, "SCHED_IDLE")
            and hasattr(os, "geteuid") and os.geteuid() == 0
            and not os.path.exists("/dev/nvidiactl"))


@contextmanager
def idle_start() -> Iterator[bool]:
    """Run the body with the calling thread under SCHED_IDLE; yields whether it was."""
    if not idle_start_applies():
        yield False
        return
    tid = threading.get_native_id()
    before = os.sched_getscheduler(tid)
    param = os.sched_getparam(tid)
    try:
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        yield False
        return
    try:
        yield True
    finally:
        try:
            os.sched_setscheduler(tid, before, param)
        except OSError as exc:  # root lost CAP_SYS_NICE: say so, the replica still serves
            logger.warning("could not restore the scheduling policy after start-up: %s", exc)

"""Keep Ray's own chatter off a driver's terminal, so what a newcomer reads there is ours.

A connected driver prints (1) every worker's output (`log_to_driver`), (2) Ray's INFO logs
("Connecting to existing Ray cluster ...", `logging_level`) and (3) error messages any Ray
process publishes to all drivers, e.g. an agent's "Raylet is terminated. Termination is
unexpected" followed by the tail of raylet.out (the `[state-dump]` lines). (1) and (2) are
ray.init options; (3) has no switch, so a driver that only waits (`up`) sends its stdout to
a log file instead.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path


def quiet_init_kwargs(**overrides) -> dict:
    """ray.init keyword arguments of a driver that shows warnings and errors, nothing else."""
    return {"log_to_driver": False, "logging_level": logging.WARNING, **overrides}


@contextlib.contextmanager
def stdout_to(path: Path | str) -> Iterator[None]:
    """Append everything printed to sys.stdout (Ray's published errors too) to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", buffering=1) as log, contextlib.redirect_stdout(log):
        yield


def quiet_serve_logs() -> None:
    """Serve's driver-side INFO lines ("Started Serve", "Application ... is ready") become
    warnings-only; call after `ray.serve` is imported (it sets its logger to INFO then)."""
    logging.getLogger("ray.serve").setLevel(logging.WARNING)

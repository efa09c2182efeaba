"""Run N edge clients as separate processes over a list of images, answers in image order.

Each process builds ONE EdgeClient (loads the edge tier's models, checks their hashes
against the server's) and classifies the chunks of images it is handed, one image at a
time (a closed loop per client, as a camera or phone would). `edge_tiers=0` is the
all-cloud client: the same code, sending every image.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from serve_app.edge_client import EdgeClient, EdgePrediction

CHUNK = 20
_CLIENT: EdgeClient | None = None


class ClientOptions(BaseModel):
    """How each edge-client process connects and what it runs locally."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="server base URL, e.g. http://127.0.0.1:8000")
    edge_tiers: int = Field(default=1, ge=0, description="tiers run on the client (0 = none)")
    edge_class: str | None = Field(default=None, description="catalog class pricing the edge")
    catalog: str | None = None
    send_votes: bool = True
    timeout_s: float = Field(default=60.0, gt=0)
    warmup_paths: list[str] = Field(
        default_factory=list, description="images each process sends first, not counted")


def _start(options: dict) -> None:
    """Process initialiser: one torch thread (as the server's members) and one client."""
    import torch

    global _CLIENT
    torch.set_num_threads(1)
    opts = ClientOptions.model_validate(options)
    _CLIENT = EdgeClient(opts.url, opts.edge_tiers, edge_class=opts.edge_class,
                         catalog=opts.catalog, send_votes=opts.send_votes,
                         timeout_s=opts.timeout_s)
    for path in opts.warmup_paths:  # connection, first forward passes, server batches
        _CLIENT.classify(Path(path).read_bytes())


def _classify_chunk(chunk: list[tuple[int, str]]) -> list[tuple[int, dict]]:
    assert _CLIENT is not None, "worker not initialised"
    return [(i, _CLIENT.classify(Path(path).read_bytes()).model_dump(mode="json"))
            for i, path in chunk]


def run_clients(
    paths: list[str], options: ClientOptions, clients: int, progress: bool = True,
    desc: str = "edge",
) -> list[EdgePrediction]:
    """Answers for `paths` (in order) from `clients` edge-client processes."""
    from tqdm import tqdm

    if clients < 1:
        raise ValueError(f"clients must be >= 1, got {clients}")
    indexed = list(enumerate(paths))
    chunks = [indexed[i:i + CHUNK] for i in range(0, len(indexed), CHUNK)]
    answers: dict[int, EdgePrediction] = {}
    context = multiprocessing.get_context("spawn")  # torch and threads: never fork
    with ProcessPoolExecutor(clients, mp_context=context, initializer=_start,
                             initargs=(options.model_dump(),)) as pool, \
            tqdm(total=len(paths), desc=desc, unit="img", disable=not progress) as bar:
        futures = [pool.submit(_classify_chunk, chunk) for chunk in chunks]
        for future in as_completed(futures):
            for i, answer in future.result():
                answers[i] = EdgePrediction.model_validate(answer)
            bar.update(len(future.result()))
    return [answers[i] for i in range(len(paths))]

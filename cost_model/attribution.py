"""Attributed cost: the device time a prediction actually used, in seconds and dollars.

A member runs a batch on its GPU and measures one forward time; each item of the batch is
charged an equal share (here, called by the member deployment). A request is then charged
the sum over every member it fanned out to and every tier it escalated through
(`cost_model.record.record_from_usage`). On a CPU the GPU class is emulated: measured CPU
seconds are scaled by the class's relative throughput from the catalog.
"""

from __future__ import annotations

from cluster.catalog import GPUCatalog, load_catalog


def split_batch(batch_device_seconds: float, batch_size: int) -> float:
    """Device-seconds charged to each item of a batch (an even split)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if batch_device_seconds < 0:
        raise ValueError(f"device seconds must be >= 0, got {batch_device_seconds}")
    return batch_device_seconds / batch_size


def emulated_device_seconds(
    cpu_seconds: float, gpu_class: str, catalog: GPUCatalog | None = None
) -> float:
    """Device-seconds the class would have used, emulated from a CPU measurement."""
    catalog = catalog if catalog is not None else load_catalog()
    return cpu_seconds / catalog.get(gpu_class).relative_throughput

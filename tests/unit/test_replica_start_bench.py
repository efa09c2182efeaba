"""`coe bench replica-start`'s summary: medians per variant and their ratio."""

from __future__ import annotations

from load_tests.experiments.replica_start import summarise


def _run(cpu: float, dynamo: bool) -> dict:
    return {"cpu_s": cpu, "wall_s": cpu + 0.1, "torch_dynamo_imported": dynamo}


def test_summary_gives_medians_and_the_ratio_of_medians():
    report = summarise({
        "member": [_run(1.0, False), _run(3.0, False), _run(1.2, False)],
        "with_torchvision": [_run(2.0, True), _run(2.4, True), _run(9.0, True)],
    })
    assert report["member"]["cpu_s_median"] == 1.2
    assert report["with_torchvision"]["cpu_s_median"] == 2.4
    assert report["cpu_ratio_member_over_with_torchvision"] == 0.5
    assert report["member"]["torch_dynamo_imported"] == [False]
    assert report["with_torchvision"]["runs"] == 3


def test_summary_without_the_reference_variant_has_no_ratio():
    report = summarise({"member": [_run(1.0, False)]})
    assert report["cpu_ratio_member_over_with_torchvision"] is None

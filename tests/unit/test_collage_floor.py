"""The collage bench's no-fault floor: what the p99 check could reach in a run."""

from __future__ import annotations

import json

from load_tests.experiments.collage_floor import p99_floor, summarise_reports


def _report(faulted_none, faulted_collage, clean_none, clean_collage, held):
    return {
        "no_redundancy": {"p99_ms": faulted_none},
        "collage": {"p99_ms": faulted_collage},
        "without_faults": {"no_redundancy": {"p99_ms": clean_none},
                           "collage": {"p99_ms": clean_collage}},
        "checks": {"collage_p99_le_0.5x_no_redundancy": held},
    }


def test_floor_is_the_no_fault_collage_p99_over_the_faulted_none_p99():
    floor = p99_floor(_report(200.0, 120.0, 90.0, 130.0, False))
    assert floor["collage_faulted"] == 0.6
    assert floor["collage_no_fault_floor"] == 0.65
    assert floor["no_redundancy_no_fault"] == 0.45
    assert floor["floor_above_target"] is True


def test_no_floor_without_the_no_fault_runs():
    report = _report(200.0, 120.0, 90.0, 130.0, False)
    del report["without_faults"]
    assert p99_floor(report) is None


def test_summary_counts_runs_checks_and_floors(tmp_path):
    paths = []
    for i, args in enumerate([(200.0, 90.0, 80.0, 85.0, True),
                              (200.0, 120.0, 90.0, 130.0, False),
                              (300.0, 160.0, 100.0, 110.0, False)]):
        path = tmp_path / f"r{i}.json"
        path.write_text(json.dumps(_report(*args)))
        paths.append(str(path))
    summary = summarise_reports(paths)
    assert (summary["runs"], summary["check_held"], summary["floor_above_target"]) == (3, 1, 1)
    assert summary["floor_median"] == 0.425
    assert summary["check_held_with_floor_above_target"] == 0

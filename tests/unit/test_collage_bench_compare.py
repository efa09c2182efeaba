"""The collage bench's no-fault comparison: labels changed, and where a cell stood in."""

from load_tests.experiments.collage_bench import aa_noise_floor, checks, compare_clean


def _row(labels, sources, p50):
    return {"labels": labels, "sources": sources, "p50_ms": p50}


def test_a_changed_label_is_attributed_to_the_stand_in_that_made_it():
    base = _row([1, 2, 3, 4], [None] * 4, 30.0)
    coll = _row([1, 5, 3, 6], [None, "collage", "collage", None], 33.0)
    out = compare_clean(base, coll)
    assert out["labels_changed"] == 2
    assert out["labels_changed_where_a_cell_stood_in"] == 1  # request 1; request 3 had none
    assert out["p50_ratio_collage_over_none"] == 1.1


def test_the_checks_read_the_pair_strictly():
    faulted = {"p99_ms": 100.0, "extra_device_ms_per_prediction": 0.02, "accuracy": 0.82}
    report = {
        "no_redundancy": {**faulted, "p99_ms": 300.0, "extra_device_ms_per_prediction": 0.0},
        "replication": {**faulted, "p99_ms": 150.0, "extra_device_ms_per_prediction": 0.11},
        "collage": faulted,
        "without_faults": {
            "no_redundancy": {"accuracy": 0.82, "p50_ms": 30.0},
            "collage": {"p50_ms": 34.0, "extra_device_ms_per_prediction": 0.02},
            "labels_changed": 1,
        },
    }
    out = checks(report)
    assert out["collage_p99_le_0.5x_no_redundancy"] is True
    assert out["collage_p99_le_1.2x_replication"] is True
    assert out["collage_extra_cost_le_0.5x_replication"] is True
    assert out["no_faults_collage_changes_no_label"] is False  # any change counts
    assert out["no_faults_collage_p50_le_1.1x"] is False  # 34 > 1.1 x 30
    assert out["no_faults_collage_billed"] is True


def test_the_aa_control_reports_how_far_two_identical_apps_differ():
    out = aa_noise_floor({"p50_ms": 40.0, "p99_ms": 120.0}, {"p50_ms": 44.0, "p99_ms": 90.0})
    assert out["p50_ratio_control_over_none"] == 1.1
    assert out["p99_ratio_control_over_none"] == 0.75
    assert out["p50_ms"] == 44.0


def test_the_bench_rate_is_measured_by_default_and_a_fixed_rate_is_checked():
    import pytest
    from pydantic import ValidationError

    from coe.cli_bench_collage import rate_arg
    from load_tests.experiments.collage_bench import CollageBenchOptions

    assert CollageBenchOptions().rate == "auto"
    assert CollageBenchOptions(rate=8).rate == 8
    assert rate_arg("auto") == "auto" and rate_arg("12.5") == 12.5
    for bad in (0, 101, "fast"):
        with pytest.raises(ValidationError, match="rate"):
            CollageBenchOptions(rate=bad)

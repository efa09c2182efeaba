"""Pure helpers of the compare report: merging per-window provisioned cost, the ratio table."""

from __future__ import annotations

import pytest

from cost_model.provisioned import ProvisionedCost
from load_tests.experiments.compare import merge_provisioned, ratio_rows, render_table, rotated
from load_tests.experiments.hetero import measured_exit_distribution


def _prov(usd, seconds):
    return ProvisionedCost(window_s=seconds, usd=usd, gpu_seconds_by_class={"T4": seconds},
                           usd_by_class={"T4": usd}, usd_by_deployment={"t0-a": usd},
                           prices={"T4": 0.526})


def test_merge_provisioned_sums_windows():
    merged = merge_provisioned([_prov(1.0, 10), _prov(2.0, 12)])
    assert merged.usd == pytest.approx(3.0)
    assert merged.window_s == pytest.approx(22)
    assert merged.usd_by_class == {"T4": pytest.approx(3.0)}
    assert merged.gpu_seconds_by_class == {"T4": pytest.approx(22)}
    assert merge_provisioned([]) is None


def test_rotated_keeps_every_image_once():
    assert rotated([0, 1, 2, 3], 5) == [1, 2, 3, 0]


def _summary(acc, p50, p99, attributed, provisioned):
    return {"accuracy": acc, "latency": {"p50_ms": p50, "p99_ms": p99},
            "cost": {"attributed_usd_per_1k": attributed, "provisioned_usd_per_1k": provisioned,
                     "utilisation": None}}


def test_ratio_rows_divide_cascade_by_single_best_and_label_emulation():
    summaries = {"cascade": _summary(0.84, 40, 100, 0.001, 0.01),
                 "single-best": _summary(0.82, 20, 50, 0.004, 0.05)}
    search = {"max_sustainable_rps": {"cascade": 20.0, "single-best": 40.0}}
    offline = {"cascade": {"accuracy": 0.8384, "expected_usd_per_1k": 0.0003},
               "single-best": {"accuracy": 0.8326, "expected_usd_per_1k": 0.0012}}
    rows = {r["figure"]: r for r in ratio_rows(summaries, search, offline)}
    assert rows["p50 latency ms"]["ratio"] == pytest.approx(2.0)
    assert rows["attributed $/1k"]["ratio"] == pytest.approx(0.25)
    assert rows["provisioned $/1k"]["ratio"] == pytest.approx(0.2)
    assert rows["max sustainable req/s"]["ratio"] == pytest.approx(0.5)
    assert rows["utilisation (attributed/provisioned)"]["ratio"] is None
    assert "EMULATED" in rows["attributed $/1k"]["basis"]
    assert "EMULATED" in rows["provisioned $/1k"]["basis"]
    table = render_table(list(rows.values()))
    assert "| attributed $/1k | 0.001000 | 0.004000 | 0.250 |" in table


def test_measured_exit_distribution_reads_compare_json(tmp_path):
    path = tmp_path / "compare.json"
    path.write_text('{"fixed": {"summaries": {"cascade": '
                    '{"exits_per_tier": {"tier0": 75, "tier1": 25}}}}}')
    assert measured_exit_distribution(str(path), ["tier0", "tier1"]) == [0.75, 0.25]
    assert measured_exit_distribution(str(path), ["tier0", "tier1", "tier2"]) == [0.75, 0.25, 0]
    with pytest.raises(ValueError, match="not in the cascade"):
        measured_exit_distribution(str(path), ["tier0"])

"""The edge benchmark's arithmetic: per-1k bytes and dollars, accuracy, agreement."""

import pytest

from load_tests.edge.compare import agreement, render_table, summarize
from serve_app.edge_client import EdgePrediction


def prediction(label, exit_index, at, up=0, usd=0.0, ms=10.0, edge_usd=None):
    return EdgePrediction(
        label=label, class_name=str(label), exit_tier=f"t{exit_index}", exit_index=exit_index,
        answered_at=at, tiers=[], bytes_up=up, bytes_down=2 * up, edge_cpu_seconds=0.001,
        edge_device_seconds=0.001, edge_gpu_class=None, edge_usd=edge_usd,
        cloud_device_seconds=usd * 1000, cloud_usd=usd, cloud_emulated=usd > 0,
        latency_ms=ms,
    )


def test_summary_scales_to_one_thousand_predictions():
    preds = [prediction(1, 0, "edge", ms=5.0), prediction(2, 1, "cloud", up=1000, usd=2e-6,
                                                          ms=50.0)]
    summary = summarize(preds, [1, 3])
    assert summary["upload_bytes_per_1k"] == 500_000
    assert summary["download_bytes_per_1k"] == 1_000_000
    assert summary["cloud_usd_per_1k"] == pytest.approx(1e-3)
    assert summary["accuracy"] == 0.5 and summary["answered_at_edge"] == 0.5
    assert summary["requests_sent"] == 1 and summary["exits_per_tier"] == {"t0": 1, "t1": 1}
    assert summary["p50_ms"] == pytest.approx(27.5) and summary["edge_usd_per_1k"] is None
    with pytest.raises(ValueError):
        summarize(preds, [1])


def test_agreement_needs_the_same_exit_tier_and_label():
    edge = [prediction(1, 0, "edge"), prediction(2, 1, "cloud"), prediction(3, 1, "cloud")]
    cloud = [prediction(1, 0, "cloud"), prediction(2, 0, "cloud"), prediction(4, 1, "cloud")]
    out = agreement(edge, cloud)
    assert out["same_exit_and_label"] == pytest.approx(1 / 3)
    assert out["differing_images"] == [1, 2]


def test_table_shows_both_sides():
    side = summarize([prediction(1, 0, "edge")], [1])
    report = {"all_cloud": side, "edge": side, "agreement": {"same_exit_and_label": 1.0},
              "checks": {}}
    text = render_table(report)
    assert "all_cloud" in text and "upload bytes / 1k" in text

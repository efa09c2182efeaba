"""Price lookups: on-demand vs spot, per-deployment overrides, sources, bad catalogs."""

import pytest
import yaml
from pydantic import ValidationError

from cost_model.catalog import load_catalog
from cost_model.prices import PriceOverride, PriceTable

GOOD_CLASS = {
    "accelerator_type": "T4",
    "memory_gb": 16,
    "price_per_hour_usd": 0.36,
    "spot_price_per_hour_usd": 0.18,
    "price_source": "test sheet",
    "price_date": "2025-01",
    "device_model": {
        "reference_images_per_s": 6000.0, "peak_source": "test sheet", "peak_date": "2025-01",
        "reference_batch1_ms": 1.0, "latency_source": "test sheet", "latency_date": "2025-01",
    },
}
CATALOG_HEAD = {
    "reference_network": {"name": "resnet50", "gmacs_per_image": 4.09, "layers": 54,
                          "source": "test", "date": "2025-01"},
    "call_floor": {"microseconds": 15.0, "source": "test", "date": "2025-01"},
}


def _write_catalog(tmp_path, classes):
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump({**CATALOG_HEAD, "classes": classes}))
    return path


def test_on_demand_price_comes_from_catalog_with_source():
    table = PriceTable()
    t4 = load_catalog().get("T4")
    price = table.price("T4")
    assert price.usd_per_hour == t4.price_per_hour_usd
    assert price.kind == "on-demand" and price.source == t4.price_source
    assert price.date == t4.price_date
    # 90 device-seconds of a T4 = 90/3600 of an hour.
    assert table.usd(90, "T4") == pytest.approx(t4.price_per_hour_usd * 90 / 3600)


def test_spot_price_and_missing_spot_price(tmp_path):
    no_spot = dict(GOOD_CLASS, accelerator_type="A100-40G", spot_price_per_hour_usd=None)
    path = _write_catalog(tmp_path, {"T4": GOOD_CLASS, "A100-40GB": no_spot})
    table = PriceTable.from_path(path, kind="spot")
    assert table.price("T4").usd_per_hour == 0.18 and table.price("T4").kind == "spot"
    assert table.usd(3600, "T4") == pytest.approx(0.18)
    with pytest.raises(ValueError, match="'A100-40GB' has no spot_price_per_hour_usd"):
        table.price("A100-40GB")


def test_deployment_override_wins_only_for_that_deployment():
    override = PriceOverride(usd_per_hour=0.10, source="reserved 3y", date="2025-03")
    table = PriceTable(overrides={"t0-resnet20": override})
    price = table.price("T4", deployment="t0-resnet20")
    assert (price.usd_per_hour, price.kind, price.source) == (0.10, "override", "reserved 3y")
    assert table.price("T4", deployment="t0-cnn_a").kind == "on-demand"
    assert table.usd(36, "T4", deployment="t0-resnet20") == pytest.approx(0.001)


def test_unknown_class_and_pricing_kind():
    with pytest.raises(KeyError, match="unknown GPU class 'V100'"):
        PriceTable().price("V100")
    with pytest.raises(ValueError, match="pricing kind"):
        PriceTable(kind="reserved")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price_per_hour_usd": 0}, "classes.T4.price_per_hour_usd"),
        ({"price_source": ""}, "classes.T4.price_source"),
        ({"device_model": dict(GOOD_CLASS["device_model"], reference_images_per_s=-2)},
         "classes.T4.device_model.reference_images_per_s"),
        ({"device_model": dict(GOOD_CLASS["device_model"], reference_batch1_ms=0.1)},
         "classes.T4.device_model"),
        ({"price_in_eur": 1.0}, "classes.T4.price_in_eur"),
    ],
)
def test_bad_catalog_yaml_names_the_field(tmp_path, change, field):
    path = _write_catalog(tmp_path, {"T4": dict(GOOD_CLASS, **change)})
    with pytest.raises(ValidationError, match=field.replace(".", r"\.")):
        PriceTable.from_path(path)


def test_catalog_missing_required_field_is_named(tmp_path):
    broken = {k: v for k, v in GOOD_CLASS.items() if k != "price_date"}
    with pytest.raises(ValidationError, match=r"classes\.T4\.price_date"):
        PriceTable.from_path(_write_catalog(tmp_path, {"T4": broken}))

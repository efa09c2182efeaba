"""The bundled GPU catalog loads, and every class carries a price with its source."""

import pytest
from pydantic import ValidationError

from cost_model.catalog import GPUCatalog, load_catalog

REQUIRED_CLASSES = {"T4", "L4", "A10G", "A100-40GB", "A100-80GB", "H100"}


def test_bundled_catalog_has_required_classes_with_sources():
    catalog = load_catalog()
    assert set(catalog.classes) >= REQUIRED_CLASSES
    for gpu in catalog.classes.values():
        assert gpu.price_per_hour_usd > 0
        assert gpu.price_source and gpu.price_date
        assert gpu.resource_name == f"accelerator_type:{gpu.accelerator_type}"


def test_price_per_second_is_hourly_price_over_3600():
    t4 = load_catalog().get("T4")
    assert t4.price_per_second_usd == pytest.approx(t4.price_per_hour_usd / 3600)


def test_unknown_class_lists_known_ones():
    with pytest.raises(KeyError, match="unknown GPU class 'V100'.*T4"):
        load_catalog().get("V100")


def test_negative_price_names_the_field():
    raw = {
        "classes": {
            "T4": {
                "accelerator_type": "T4",
                "memory_gb": 16,
                "price_per_hour_usd": -1,
                "price_source": "x",
                "price_date": "2025-01",
                "relative_throughput": 1.0,
            }
        }
    }
    with pytest.raises(ValidationError, match="classes.T4.price_per_hour_usd"):
        GPUCatalog.model_validate(raw)

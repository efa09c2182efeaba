"""The bundled GPU catalog loads, and every class carries a price with its source."""

import pytest
import yaml
from pydantic import ValidationError

from cost_model.catalog import DEFAULT_CATALOG, GPUCatalog, load_catalog

REQUIRED_CLASSES = {"T4", "L4", "A10G", "A100-40GB", "A100-80GB", "H100"}


def test_bundled_catalog_has_required_classes_with_sources():
    catalog = load_catalog()
    assert set(catalog.classes) >= REQUIRED_CLASSES
    for gpu in catalog.classes.values():
        assert gpu.price_per_hour_usd > 0
        assert gpu.price_source and gpu.price_date
        assert gpu.resource_name == f"accelerator_type:{gpu.accelerator_type}"


def test_unknown_class_lists_known_ones():
    with pytest.raises(KeyError, match="unknown GPU class 'V100'.*T4"):
        load_catalog().get("V100")


def test_negative_price_names_the_field():
    raw = yaml.safe_load(DEFAULT_CATALOG.read_text())
    raw["classes"]["T4"]["price_per_hour_usd"] = -1
    with pytest.raises(ValidationError, match="classes.T4.price_per_hour_usd"):
        GPUCatalog.model_validate(raw)


def test_every_class_cites_its_device_figures_and_has_positive_floors():
    catalog = load_catalog()
    for name, gpu in catalog.classes.items():
        model = gpu.device_model
        assert model.peak_source and model.latency_source and len(model.peak_date) >= 7, name
        floor = model.layer_floor_seconds(catalog.reference_network, catalog.call_floor)
        assert 0 < floor < model.reference_batch1_ms / 1000, name

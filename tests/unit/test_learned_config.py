"""Config of the learned policy: inline or file+sha256 schedulers; errors name the field."""

import json

import numpy as np
import pytest
from pydantic import ValidationError

from cascade.config import parse_cascade
from cascade.learned import scheduler_feature_names
from cascade.learned_config import file_sha256
from planner.simulate import tiers_from_config

FEATURES = scheduler_feature_names([["resnet20"]])


def scheduler(features=FEATURES, width=None):
    width = len(features) if width is None else width
    return {"features": list(features),
            "layers": [{"weight": [[0.1] * width], "bias": [0.0]}]}


def cascade(policy0, budget=None):
    raw = {
        "name": "t",
        "tiers": [
            {"name": "small", "gpu_class": "T4", "exit_policy": policy0,
             "members": [{"model": "resnet20"}]},
            {"name": "large", "gpu_class": "A100-40GB",
             "exit_policy": {"kind": "learned", "threshold": 0.0},
             "members": [{"model": "resnet56"}]},
        ],
    }
    if budget is not None:
        raw["budget"] = budget
    return raw


def error_text(raw) -> str:
    with pytest.raises(ValidationError) as info:
        parse_cascade(raw)
    return str(info.value)


def test_inline_scheduler_loads_and_reaches_the_planner():
    config = parse_cascade(cascade({"kind": "learned", "threshold": 0.6,
                                    "scheduler": scheduler()}))
    specs = tiers_from_config(config)
    assert specs[0].scheduler.features == tuple(FEATURES)
    assert specs[1].scheduler is None and specs[1].policy == "learned"


def test_wrong_weight_shape_names_the_layers_field():
    text = error_text(cascade({"kind": "learned", "threshold": 0.6,
                               "scheduler": scheduler(width=3)}))
    assert "tiers.0.exit_policy.scheduler.layers" in text
    assert "weight shape (1, 3)" in text


def test_features_that_do_not_fit_the_tier_are_refused():
    wrong = [f.replace("resnet20", "resnet32") for f in FEATURES]
    text = error_text(cascade({"kind": "learned", "threshold": 0.6,
                               "scheduler": scheduler(features=wrong)}))
    assert "tiers.0.exit_policy.scheduler.features" in text and "feature mismatch" in text


def test_learned_threshold_without_scheduler_and_scheduler_on_other_kinds():
    assert "needs a scheduler" in error_text(cascade({"kind": "learned", "threshold": 0.6}))
    text = error_text(cascade({"kind": "agreement", "threshold": 1.0,
                               "scheduler": scheduler()}))
    assert "only the learned policy" in text


def test_scheduler_file_with_its_hash(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scheduler()))
    good = {"kind": "learned", "threshold": 0.6,
            "scheduler": {"file": str(path), "sha256": file_sha256(path)}}
    config = parse_cascade(cascade(good))
    assert config.tiers[0].exit_policy.scheduler.build().logits(
        np.zeros((1, len(FEATURES)))).tolist() == [0.0]
    bad = {"kind": "learned", "threshold": 0.6,
           "scheduler": {"file": str(path), "sha256": "0" * 64}}
    text = error_text(cascade(bad))
    assert "tiers.0.exit_policy.scheduler.sha256" in text and "sha256 mismatch" in text


def test_budget_section_validates_its_fields():
    config = parse_cascade(cascade({"kind": "learned", "threshold": 0.6,
                                    "scheduler": scheduler()},
                                   budget={"target": 0.2, "keeper": {"enabled": True}}))
    assert config.budget.unit == "device_ms" and config.budget.keeper.enabled
    text = error_text(cascade({"kind": "agreement"}, budget={"target": -1}))
    assert "budget.target" in text

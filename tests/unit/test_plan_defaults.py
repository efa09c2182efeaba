"""`coe plan` and `coe bench resplit` choose with the same defaults, so the resplit benchmark
checks the rule a user's plan is chosen by: every family, a 0.95 bootstrap bound."""

from __future__ import annotations

import argparse

from coe import cli_plan
from load_tests.experiments.resplit import ResplitOptions
from planner.robust import DEFAULT_CONFIDENCE, DEFAULT_POLICY


def plan_defaults() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_plan.register(parser.add_subparsers())
    return parser.parse_args(["plan", "--pool", "all"])


def test_plan_cli_and_resplit_share_the_selection_defaults():
    args = plan_defaults()
    options = ResplitOptions()
    assert args.policy == options.policy == DEFAULT_POLICY == "any"
    assert args.confidence == options.confidence == DEFAULT_CONFIDENCE == 0.95
    assert args.selection == options.selection == "bootstrap"

"""The edge protocol on the server side: start-tier bounds, edge votes, policy version."""

import json

import pytest

from cascade.config import parse_cascade
from serve_app.decode import InputError
from serve_app.edge_protocol import (
    CascadeDescription,
    attach_edge_traces,
    describe,
    parse_edge_votes,
    parse_start_tier,
    policy_fingerprint,
)

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def config(threshold=1.0, kind="agreement", tiers=3):
    members = [[{"model": "resnet20", "name": "a"}, {"model": "resnet32", "name": "b"}],
               [{"model": "resnet44", "name": "c"}], [{"model": "resnet56", "name": "d"}]]
    return parse_cascade({
        "name": "edge-test", "num_classes": 10, "class_names": CLASSES,
        "tiers": [
            {"name": f"t{i}", "gpu_class": "T4", "members": members[i],
             "exit_policy": {"kind": kind, "threshold": threshold}}
            for i in range(tiers)
        ],
    }, check_models=False)


def refused(call, code):
    with pytest.raises(InputError) as info:
        call()
    assert info.value.status == 422 and info.value.code == code
    return info.value.message


@pytest.mark.parametrize("raw,expected", [(None, 0), ("1", 1), ("2", 2), (" 2 ", 2)])
def test_start_tier_in_range(raw, expected):
    assert parse_start_tier(raw, config()) == expected


@pytest.mark.parametrize("raw", ["0", "3", "-1", "abc", "1.5", "", "1e0", "99999999999"])
def test_start_tier_out_of_range_or_not_an_integer_is_422(raw):
    message = refused(lambda: parse_start_tier(raw, config()), "bad_start_tier")
    assert "X-Coe-Start-Tier" in message and "1 to 2" in message


def test_a_one_tier_cascade_accepts_no_start_tier():
    assert "absent" in refused(lambda: parse_start_tier("1", config(tiers=1)), "bad_start_tier")


def votes(*entries):
    return json.dumps(list(entries))


def test_votes_become_edge_traces_by_index_or_class_name():
    (traces,) = parse_edge_votes(votes({"t0": {"a": 3, "b": "dog"}}), config(), 1, 1)
    (trace,) = traces
    assert trace.site == "edge" and trace.decision == "escalate" and not trace.policy_met
    assert trace.votes == {"a": 3, "b": 5} and trace.agreement == 0.5
    assert trace.label in (3, 5) and trace.confidence is None


def test_votes_for_two_edge_tiers_and_two_images():
    entry = {"t0": {"a": 1, "b": 2}, "t1": {"c": 4}}
    out = parse_edge_votes(votes(entry, entry), config(threshold=1.0, kind="confidence"), 2, 2)
    assert [[t.tier for t in traces] for traces in out] == [["t0", "t1"]] * 2


@pytest.mark.parametrize("raw,needle", [
    ("not json", "X-Coe-Edge-Votes"),
    (json.dumps({"t0": {"a": 1, "b": 2}}), "valid array"),  # an object, not a list
    (votes({"t0": {"a": 1, "b": 2}}, {"t0": {"a": 1, "b": 2}}), "2 entries for 1 image"),
    (votes({"t0": {"a": 1}}), "members ['a'] given"),
    (votes({"t0": {"a": 1, "b": 2, "x": 3}}), "members"),
    (votes({"t0": {"a": 1, "b": 2}, "t1": {"c": 1}}), "tiers"),
    (votes({"t1": {"c": 1}}), "tiers"),
    (votes({"t0": {"a": 10, "b": 2}}), "unknown label 10"),
    (votes({"t0": {"a": -1, "b": 2}}), "unknown label -1"),
    (votes({"t0": {"a": "zebra", "b": 2}}), "unknown label 'zebra'"),
    (votes({"t0": {"a": [1], "b": 2}}), "X-Coe-Edge-Votes"),
    (votes({"t0": {"a": True, "b": 2}}), "X-Coe-Edge-Votes.0.t0.a"),
])
def test_bad_votes_are_422_naming_the_problem(raw, needle):
    assert needle in refused(lambda: parse_edge_votes(raw, config(), 1, 1), "bad_edge_votes")


def test_votes_that_meet_the_exit_policy_are_refused():
    message = refused(lambda: parse_edge_votes(votes({"t0": {"a": 4, "b": 4}}), config(), 1, 1),
                      "bad_edge_votes")
    assert "exits at the edge" in message


def test_votes_need_a_start_tier():
    raw = votes({"t0": {"a": 1, "b": 2}})
    assert "X-Coe-Start-Tier" in refused(lambda: parse_edge_votes(raw, config(), 0, 1),
                                         "bad_edge_votes")


def test_no_votes_header_is_fine():
    assert parse_edge_votes(None, config(), 1, 1) is None
    attach_edge_traces([], None)


def test_policy_fingerprint_follows_the_rules_and_description_round_trips():
    base = policy_fingerprint(config())
    assert base == policy_fingerprint(config()) and len(base) == 16
    assert policy_fingerprint(config(threshold=0.5)) != base
    assert policy_fingerprint(config(kind="confidence")) != base
    desc = describe(config(), {"t0/a": "ab" * 32})
    again = CascadeDescription.model_validate(desc.model_dump(mode="json"),
                                              context={"check_models": False})
    assert again.policy_fingerprint == base and again.weights_sha256 == {"t0/a": "ab" * 32}

"""Combine rules and exit policies on hand-made vote matrices (the live + offline logic)."""

import numpy as np
import pytest

from cascade.policies import (
    agreement_fraction,
    combine,
    decide_tier,
    default_quorum,
    mean_probs,
    member_votes,
    outcome_decided,
    quorum,
)


def one_hot_probs(votes, num_classes=4, p=0.7):
    """probs[m, n, :] with `p` on votes[m][n] and the rest spread evenly."""
    votes = np.asarray(votes)
    rest = (1.0 - p) / (num_classes - 1)
    probs = np.full(votes.shape + (num_classes,), rest)
    m_idx, n_idx = np.indices(votes.shape)
    probs[m_idx, n_idx, votes] = p
    return probs


def test_unanimous_vote_exits_and_split_vote_escalates():
    # image 0: all vote 2; image 1: 2, 2, 1
    probs = one_hot_probs([[2, 2], [2, 2], [2, 1]])
    decision = decide_tier(probs, "agreement", 1.0)
    assert decision.labels.tolist() == [2, 2]
    assert decision.agreement.tolist() == pytest.approx([1.0, 2 / 3])
    assert decision.exits.tolist() == [True, False]


def test_two_thirds_threshold_accepts_two_of_three():
    probs = one_hot_probs([[2], [2], [1]])
    assert decide_tier(probs, "agreement", 0.67).exits.tolist() == [False]
    assert decide_tier(probs, "agreement", 2 / 3).exits.tolist() == [True]


def test_vote_tie_is_broken_by_mean_probability():
    probs = np.array(
        [
            [[0.1, 0.6, 0.3, 0.0]],  # votes 1 (0.6)
            [[0.1, 0.0, 0.9, 0.0]],  # votes 2 (0.9)
        ]
    )
    labels, confidence = combine(probs, "vote")
    # tie 1 vs 2: mean prob of class 1 = 0.3, class 2 = 0.6 -> 2
    assert labels.tolist() == [2]
    assert confidence.tolist() == pytest.approx([0.6])
    assert agreement_fraction(probs).tolist() == [0.5]


def test_mean_combine_can_differ_from_plurality_vote():
    probs = np.array(
        [
            [[0.51, 0.49]],
            [[0.51, 0.49]],
            [[0.0, 1.0]],
        ]
    )
    assert combine(probs, "vote")[0].tolist() == [0]
    assert combine(probs, "mean")[0].tolist() == [1]  # mean: 0.34 vs 0.66


def test_single_member_tier_always_agrees():
    probs = one_hot_probs([[3, 0, 1]])
    decision = decide_tier(probs, "agreement", 1.0)
    assert decision.agreement.tolist() == [1.0, 1.0, 1.0]
    assert decision.exits.all()
    assert decision.labels.tolist() == [3, 0, 1]


def test_confidence_rule_uses_max_of_mean_probability():
    probs = np.array([[[0.8, 0.2], [0.55, 0.45]], [[0.6, 0.4], [0.45, 0.55]]])
    # means: image0 (0.7, 0.3), image1 (0.5, 0.5)
    decision = decide_tier(probs, "confidence", 0.6)
    assert decision.exits.tolist() == [True, False]
    assert decision.confidence[0] == pytest.approx(0.7)


def test_missing_members_are_ignored_and_min_members_forces_escalation():
    probs = one_hot_probs([[1, 1], [1, 1], [3, 3]])
    present = np.array([[True, True], [True, False], [False, False]])
    votes = member_votes(probs, present)
    assert votes.tolist() == [[1, 1], [1, -1], [-1, -1]]
    decision = decide_tier(probs, "agreement", 1.0, present=present)
    assert decision.agreement.tolist() == [1.0, 1.0]  # the 3-voter is missing
    assert decision.exits.tolist() == [False, False]  # default quorum at tau=1: all 3
    loose = decide_tier(probs, "agreement", 1.0, present=present, min_members=1)
    assert loose.exits.tolist() == [True, True]
    strict = decide_tier(probs, "agreement", 1.0, present=present, min_members=2)
    assert strict.exits.tolist() == [True, False]
    mean = mean_probs(probs, present)
    assert mean[1].tolist() == pytest.approx(probs[0, 1].tolist())


def test_no_member_present_never_exits():
    probs = one_hot_probs([[1], [1]])
    present = np.zeros((2, 1), dtype=bool)
    assert not decide_tier(probs, "agreement", 0.0, present=present).exits.any()


def test_outcome_decided_after_two_different_votes_under_unanimity():
    probs = one_hot_probs([[1, 1, 1], [2, 1, 0], [0, 0, 0]])
    present = np.array([[True, True, True], [True, True, False], [False, False, False]])
    decided = outcome_decided(probs, present, total_members=3, policy="agreement", threshold=1.0)
    # image0: 1 vs 2 -> cannot be unanimous; image1: 1, 1 so far -> still open;
    # image2: one answer -> open
    assert decided.tolist() == [True, False, False]


def test_outcome_decided_with_two_thirds_threshold():
    probs = one_hot_probs([[1, 1], [2, 2], [0, 0], [0, 0]])
    present = np.array([[True, True], [True, True], [False, True], [False, False]])
    # 4 members, tau 0.75: image0 votes {1, 2}: best (1 + 2) / 4 = 0.75 -> open
    # image1 votes {1, 2, 0}: best (1 + 1) / 4 = 0.5 -> decided
    decided = outcome_decided(probs, present, 4, "agreement", 0.75)
    assert decided.tolist() == [False, True]


def test_outcome_never_decided_early_for_confidence_rule():
    probs = one_hot_probs([[1], [2]])
    present = np.ones((2, 1), dtype=bool)
    assert not outcome_decided(probs, present, 3, "confidence", 0.9).any()


def test_bad_shape_and_unknown_policy_are_named():
    with pytest.raises(ValueError, match="members, images, classes"):
        decide_tier(np.zeros((2, 3)), "agreement", 1.0)
    with pytest.raises(ValueError, match="unknown exit policy 'magic'"):
        decide_tier(one_hot_probs([[1]]), "magic", 1.0)
    with pytest.raises(ValueError, match="unknown combine rule"):
        combine(one_hot_probs([[1]]), "median")


@pytest.mark.parametrize(
    ("policy", "threshold", "members", "expected"),
    [("agreement", 1.0, 2, 2), ("agreement", 1.0, 3, 3), ("agreement", 0.6, 3, 2),
     ("agreement", 0.5, 4, 2), ("agreement", 0.0, 3, 1), ("confidence", 0.9, 3, 3),
     ("confidence", 0.2, 1, 1)],
)
def test_default_quorum(policy, threshold, members, expected):
    assert default_quorum(policy, threshold, members) == expected
    assert quorum(policy, threshold, members, None) == expected
    assert quorum(policy, threshold, members, 99) == members  # capped at the tier's size


def test_confidence_below_quorum_never_exits_by_default():
    probs = one_hot_probs([[1], [1]])
    present = np.array([[True], [False]])
    assert not decide_tier(probs, "confidence", 0.5, present=present).exits.any()
    assert decide_tier(probs, "confidence", 0.5, present=present, min_members=1).exits.all()

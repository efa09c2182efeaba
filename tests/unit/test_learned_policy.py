"""The learned (EENet) exit policy: features, numpy scheduler, decide_tier, runner = simulate."""

import asyncio

import numpy as np
import pytest

from cascade.learned import (
    Scheduler,
    logit,
    scheduler_feature_names,
    scheduler_inputs,
    shifted_threshold,
    tier_features,
)
from cascade.policies import decide_tier, decision_features, mean_probs
from planner.costs import uniform_cost_table
from planner.simulate import TierSpec, simulate
from serve_app.member_result import MemberResult
from serve_app.runner import CascadeRunner, TierPlan


def probs_of(rows):
    """(members, images, classes) from nested lists, each row normalised."""
    arr = np.asarray(rows, dtype=np.float64)
    return arr / arr.sum(axis=2, keepdims=True)


def test_tier_features_by_hand():
    # two members, one image, 3 classes: member 0 [0.6,0.3,0.1], member 1 [0.2,0.7,0.1]
    probs = probs_of([[[0.6, 0.3, 0.1]], [[0.2, 0.7, 0.1]]])
    decision = decide_tier(probs, "learned", 0.0, "mean")
    f = decision.features
    avg = np.array([0.4, 0.5, 0.1])
    entropy = -(avg * np.log(avg)).sum() / np.log(3)
    assert f.labels.tolist() == [1]
    assert f.values[0].tolist() == pytest.approx([0.5, 0.1, entropy, 0.5, 0.0, 1.0])


def test_missing_member_is_ignored_in_means_and_votes_zero():
    probs = probs_of([[[0.6, 0.3, 0.1]], [[0.2, 0.7, 0.1]]])
    present = np.array([[True], [False]])
    f = decide_tier(probs, "learned", 0.0, "mean", present).features
    assert f.labels.tolist() == [0]
    assert f.values[0, :4].tolist() == pytest.approx(
        [0.6, 0.3, -(np.array([.6, .3, .1]) * np.log([.6, .3, .1])).sum() / np.log(3), 1.0])
    assert f.values[0, 4:].tolist() == [1.0, 0.0]  # the absent member's vote counts as 0


def test_feature_names_cover_own_then_earlier_tiers():
    names = scheduler_feature_names([["a"], ["b", "c"]])
    assert names[:6] == ["t1.max_prob", "t1.margin", "t1.entropy", "t1.agreement",
                         "t1.vote.b", "t1.vote.c"]
    assert names[6:] == ["t0.max_prob", "t0.margin", "t0.entropy", "t0.agreement",
                         "t0.vote.a", "t0.same_label"]


def test_scheduler_inputs_append_history_and_same_label():
    own = tier_features(np.array([[0.9, 0.1]]), np.array([[0]]), np.array([1.0]), np.array([0]))
    early = tier_features(np.array([[0.2, 0.8]]), np.array([[1]]), np.array([1.0]),
                          np.array([1]))
    x = scheduler_inputs(own, [early])
    assert x.shape == (1, 5 + 5 + 1)
    assert x[0, -1] == 0.0  # labels differ


def test_mlp_scheduler_matches_hand_computation():
    w1 = np.array([[1.0, -1.0], [0.5, 0.5]])
    b1 = np.array([0.0, -1.0])
    w2 = np.array([[2.0, 3.0]])
    b2 = np.array([0.5])
    s = Scheduler(("x", "y"), (w1, w2), (b1, b2))
    x = np.array([[2.0, 1.0], [0.0, 4.0]])
    hidden = np.maximum(x @ w1.T + b1, 0)
    assert s.logits(x).tolist() == pytest.approx((hidden @ w2.T + b2)[:, 0].tolist())
    assert Scheduler.from_dict(s.to_dict()).logits(x).tolist() == s.logits(x).tolist()


def test_scheduler_rejects_bad_shapes():
    with pytest.raises(ValueError, match="layer 0: weight shape"):
        Scheduler(("x", "y"), (np.ones((1, 3)),), (np.ones(1),))
    with pytest.raises(ValueError, match="1 output"):
        Scheduler(("x",), (np.ones((2, 1)),), (np.ones(2),))


def test_learned_exit_is_logit_threshold_and_offset_moves_it():
    probs = probs_of([[[0.9, 0.1], [0.55, 0.45]]])
    s = Scheduler(tuple(scheduler_feature_names([["m"]])), (np.eye(1, 5) * 10.0,),
                  (np.array([-7.0]),))  # logit = 10 * max_prob - 7: 2.0 and -1.5
    assert decide_tier(probs, "learned", 0.5, "mean", scheduler=s).exits.tolist() == [True, False]
    lower = shifted_threshold(0.5, -2.0)
    assert logit(lower) == pytest.approx(-2.0)
    assert decide_tier(probs, "learned", lower, "mean", scheduler=s).exits.tolist() == [True,
                                                                                         True]
    with pytest.raises(ValueError, match="needs a scheduler"):
        decide_tier(probs, "learned", 0.5, "mean")


def test_min_members_still_blocks_learned_exits():
    probs = probs_of([[[0.9, 0.1]], [[0.9, 0.1]]])
    names = tuple(scheduler_feature_names([["a", "b"]]))
    s = Scheduler(names, (np.zeros((1, len(names))),), (np.array([5.0]),))
    present = np.array([[True], [False]])
    assert not decide_tier(probs, "learned", 0.5, "mean", present, min_members=2,
                           scheduler=s).exits[0]


def test_decision_features_of_an_agreement_tier_equal_learned_ones():
    probs = probs_of([[[0.6, 0.3, 0.1], [0.1, 0.1, 0.8]], [[0.2, 0.7, 0.1], [0.1, 0.2, 0.7]]])
    agree = decide_tier(probs, "agreement", 1.0, "mean")
    learned = decide_tier(probs, "learned", 0.0, "mean")
    assert decision_features(probs, agree).values.tolist() == learned.features.values.tolist()
    assert mean_probs(probs).shape == (2, 3)


# ---- the live runner and the offline simulator decide the same for a learned cascade ----

NUM_CLASSES = 4


class VoteMember:
    """Probability p on image[0, column] (its vote), the rest spread."""

    def __init__(self, column, p):
        self.column, self.p = column, p

    async def __call__(self, image):
        probs = np.full(NUM_CLASSES, (1 - self.p) / (NUM_CLASSES - 1), dtype=np.float32)
        probs[int(image[0, self.column])] = self.p
        return MemberResult(probs, 0.001, 0.001, 1, True)

    def offline(self, images):
        return np.stack([asyncio.run(self(i)).probs for i in images])


def test_runner_and_simulate_agree_on_a_three_tier_learned_cascade():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, NUM_CLASSES, (1, 4)) for _ in range(60)]
    members = {"a": VoteMember(0, 0.6), "b": VoteMember(1, 0.7), "c": VoteMember(2, 0.8),
               "d": VoteMember(3, 0.9)}
    layout = [("a", "b"), ("c",), ("d",)]
    names0 = tuple(scheduler_feature_names(layout[:1]))
    names1 = tuple(scheduler_feature_names(layout[:2]))
    w0 = np.zeros((1, len(names0)))
    w0[0, names0.index("t0.agreement")] = 4.0  # exit where a and b agree
    w1 = np.zeros((1, len(names1)))
    w1[0, names1.index("t0.same_label")] = 3.0  # exit where c says what tier 0 said
    schedulers = [Scheduler(names0, (w0,), (np.array([-3.0]),)),
                  Scheduler(names1, (w1,), (np.array([-1.5]),))]
    thresholds = [0.55, 0.45, 0.0]
    plans = [
        TierPlan(f"t{t}", t, "T4", "learned", thresholds[t], "mean", layout[t],
                 tuple(members[m] for m in layout[t]), schedulers[t] if t < 2 else None)
        for t in range(3)
    ]
    runner = CascadeRunner(plans, NUM_CLASSES, {"T4": 0.001})
    outcomes = asyncio.run(runner.run(images))
    probs = {m: member.offline(images) for m, member in members.items()}
    labels = np.zeros(len(images), dtype=np.int64)
    specs = [TierSpec(layout[t], "learned", thresholds[t], "mean", "T4",
                      schedulers[t] if t < 2 else None) for t in range(3)]
    sim = simulate(specs, probs, labels, uniform_cost_table({m: 1.0 for m in members}, ["T4"]))
    assert [o.exit_index for o in outcomes] == sim.exit_tier.tolist()
    assert [o.label for o in outcomes] == sim.predictions.tolist()
    assert len(set(sim.exit_tier.tolist())) == 3  # every tier answers some images

"""The cascade runner with fake async members (no Ray): exits, escalation, cancel, failures."""

import asyncio

import numpy as np
import pytest

from serve_app.member_result import MemberResult
from serve_app.runner import CascadeRunner, TierPlan

NUM_CLASSES = 4
PRICES = {"T4": 0.001, "A100-40GB": 0.01}


class FakeMember:
    """Votes image[0, column] (as the label); can be slow or fail; records what happened."""

    def __init__(self, column, delay=0.0, fail=False, seconds=0.002):
        self.column, self.delay, self.fail, self.seconds = column, delay, fail, seconds
        self.calls = 0
        self.cancelled = 0

    async def __call__(self, image):
        self.calls += 1
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.fail:
            raise RuntimeError("replica died")
        probs = np.full(NUM_CLASSES, 0.1 / (NUM_CLASSES - 1), dtype=np.float32)
        probs[int(image[0, self.column])] = 0.9
        return MemberResult(probs, self.seconds, self.seconds, 1, True)


def image(*votes):
    """Member j votes votes[j] on this image."""
    pixels = np.zeros((2, 4), dtype=np.int64)
    pixels[0, : len(votes)] = votes
    return pixels


def tier(index, name, gpu, members, threshold=1.0, policy="agreement", min_members=None):
    names = tuple(f"m{j}" for j in range(len(members)))
    return TierPlan(name, index, gpu, policy, threshold, "vote", names, tuple(members),
                    min_members=min_members)


def two_tier(small, large, **kwargs):
    tiers = [tier(0, "small", "T4", small), tier(1, "large", "A100-40GB", large)]
    return CascadeRunner(tiers, NUM_CLASSES, PRICES, **kwargs)


def run(runner, images):
    return asyncio.run(runner.run(images))


def test_agreement_exits_at_tier0_and_never_calls_tier1():
    large = FakeMember(3)
    (out,) = run(two_tier([FakeMember(0), FakeMember(1), FakeMember(2)], [large]), [image(2, 2, 2)])
    assert (out.label, out.exit_tier, out.exit_index) == (2, "small", 0)
    assert large.calls == 0
    (trace,) = out.tiers
    assert trace.votes == {"m0": 2, "m1": 2, "m2": 2} and trace.decision == "exit"
    assert trace.agreement == 1.0 and not out.degraded
    # 3 members x 0.002 s on T4 at 0.001 $/s
    assert out.cost.device_seconds_by_gpu_class == pytest.approx({"T4": 0.006})
    assert out.cost.usd == pytest.approx(6e-6) and out.cost.emulated


def test_disagreement_escalates_and_last_tier_answers():
    runner = two_tier([FakeMember(0), FakeMember(1)], [FakeMember(2)])
    (out,) = run(runner, [image(1, 3, 0)])
    assert (out.label, out.exit_tier) == (0, "large")
    assert [t.decision for t in out.tiers] == ["escalate", "exit"]
    assert out.cost.device_seconds_by_tier == pytest.approx({"small": 0.004, "large": 0.002})
    assert out.cost.usd == pytest.approx(0.004 * 0.001 + 0.002 * 0.01)


def test_mixed_request_escalates_only_undecided_images():
    large = FakeMember(2)
    runner = two_tier([FakeMember(0), FakeMember(1)], [large])
    outs = run(runner, [image(1, 1, 3), image(1, 2, 3), image(0, 0, 3)])
    assert [o.exit_index for o in outs] == [0, 1, 0]
    assert [o.label for o in outs] == [1, 3, 0]
    assert large.calls == 1
    assert all(o.latency_ms >= 0 for o in outs)


def test_last_tier_answers_even_when_its_members_disagree():
    runner = CascadeRunner([tier(0, "only", "T4", [FakeMember(0), FakeMember(1)])], 4, PRICES)
    (out,) = run(runner, [image(1, 2)])
    assert out.exit_index == 0 and out.label in (1, 2)
    assert out.tiers[0].decision == "exit" and out.tiers[0].policy_met is False


def test_rest_of_tier_is_cancelled_once_outcome_is_decided():
    slow = FakeMember(2, delay=30.0)
    runner = two_tier([FakeMember(0), FakeMember(1), slow], [FakeMember(3)])

    async def go():
        return await asyncio.wait_for(runner.run([image(1, 2, 1, 0)]), timeout=5.0)

    (out,) = asyncio.run(go())
    assert (out.label, out.exit_index) == (0, 1)
    assert out.tiers[0].cancelled == ["m2"] and out.tiers[0].votes["m2"] is None
    assert slow.cancelled == 1
    assert not out.degraded  # cancelling on purpose is not a failure
    assert "small/m2" not in out.cost.device_seconds_by_member


def test_no_cancellation_while_outcome_is_still_open():
    late = FakeMember(2, delay=0.05)
    runner = two_tier([FakeMember(0), FakeMember(1), late], [FakeMember(3)])
    (out,) = run(runner, [image(1, 1, 1)])
    assert late.cancelled == 0 and out.exit_index == 0 and out.tiers[0].cancelled == []


def test_failed_member_below_quorum_escalates_with_the_reason():
    """Unanimity (tau = 1.0) over 3 members needs all 3: two agreeing votes never exit."""
    runner = two_tier([FakeMember(0), FakeMember(1, fail=True), FakeMember(2)], [FakeMember(3)])
    (out,) = run(runner, [image(2, 0, 2, 1)])
    assert (out.label, out.exit_index) == (1, 1)
    assert out.degraded and "m1" in out.reasons[0] and "replica died" in out.reasons[0]
    assert out.tiers[0].failed == {"m1": "RuntimeError: replica died"}
    assert out.tiers[0].missing == ["m1"] and not out.tiers[0].quorum_met
    assert any("2 of 3 members answered, below its quorum of 3; escalated" in r
               for r in out.reasons)


def test_configured_quorum_lets_the_rest_decide():
    small = [FakeMember(0), FakeMember(1, fail=True), FakeMember(2)]
    tiers = [tier(0, "small", "T4", small, min_members=2), tier(1, "large", "T4", [FakeMember(3)])]
    (out,) = run(CascadeRunner(tiers, NUM_CLASSES, PRICES), [image(2, 0, 2, 1)])
    assert (out.label, out.exit_index) == (2, 0) and out.degraded
    assert out.tiers[0].quorum_met


def test_last_tier_below_quorum_answers_degraded_with_the_reason():
    runner = two_tier([FakeMember(0), FakeMember(1)], [FakeMember(2), FakeMember(3, fail=True)])
    (out,) = run(runner, [image(0, 1, 2, 2)])
    assert (out.label, out.exit_tier) == (2, "large") and out.degraded
    assert any("1 of 2 members answered, below its quorum of 2; answered anyway (last tier)"
               in r for r in out.reasons)


def test_full_member_queue_is_a_failed_call():
    class BackPressureError(Exception):
        pass

    class Full(FakeMember):
        async def __call__(self, image):
            raise BackPressureError("queue full")

    runner = two_tier([FakeMember(0), Full(1)], [FakeMember(2)])
    (out,) = run(runner, [image(1, 1, 3)])
    assert out.exit_index == 1 and out.tiers[0].failed == {"m1": "queue full (BackPressureError)"}


def test_early_cancel_is_not_a_quorum_failure():
    slow = FakeMember(2, delay=5.0)
    runner = two_tier([FakeMember(0), FakeMember(1), slow], [FakeMember(3)])
    (out,) = run(runner, [image(0, 1, 2, 3)])
    assert out.exit_index == 1 and out.tiers[0].cancelled == ["m2"]
    assert out.tiers[0].quorum_met and not out.degraded


def test_failure_that_breaks_agreement_escalates():
    runner = two_tier([FakeMember(0), FakeMember(1, fail=True), FakeMember(2)], [FakeMember(3)])
    (out,) = run(runner, [image(2, 0, 1, 3)])
    assert (out.label, out.exit_index) == (3, 1) and out.degraded


def test_whole_tier_failure_goes_on_to_next_tier_flagged():
    runner = two_tier([FakeMember(0, fail=True), FakeMember(1, fail=True)], [FakeMember(2)])
    (out,) = run(runner, [image(0, 0, 3)])
    assert (out.label, out.exit_index) == (3, 1)
    assert out.tiers[0].decision == "failed" and out.degraded
    assert any("no member answered" in r for r in out.reasons)


def test_last_tier_failure_answers_with_last_completed_decision():
    runner = two_tier([FakeMember(0), FakeMember(1)], [FakeMember(2, fail=True)])
    (out,) = run(runner, [image(1, 2, 0)])
    assert out.exit_tier == "small" and out.label in (1, 2) and out.degraded
    assert out.error is None
    assert any("answered with tier small" in r for r in out.reasons)


def test_every_tier_failing_is_an_error_not_an_answer():
    runner = two_tier([FakeMember(0, fail=True)], [FakeMember(1, fail=True)])
    (out,) = run(runner, [image(0, 0)])
    assert out.label is None and out.error == "no tier could answer"


def test_member_timeout_counts_as_failure():
    runner = two_tier([FakeMember(0, delay=10.0)], [FakeMember(1)], member_timeout_s=0.05)
    (out,) = run(runner, [image(0, 2)])
    assert out.exit_index == 1 and out.tiers[0].failed == {"m0": "timed out"}


def test_wrong_number_of_classes_is_a_member_failure():
    class Wrong(FakeMember):
        async def __call__(self, image):
            return MemberResult(np.ones(7, dtype=np.float32) / 7, 0.001, 0.001, 1, True)

    runner = two_tier([Wrong(0)], [FakeMember(1)])
    (out,) = run(runner, [image(0, 2)])
    assert "returned 7 classes, expected 4" in out.tiers[0].failed["m0"]


def test_plan_validation():
    with pytest.raises(ValueError, match="one caller per member"):
        TierPlan("t", 0, "T4", "agreement", 1.0, "vote", ("a", "b"), (FakeMember(0),))
    with pytest.raises(ValueError, match="indices"):
        CascadeRunner([tier(1, "t", "T4", [FakeMember(0)])], 4, PRICES)


class RequestCancelledError(Exception):
    """Named like Serve's: the runner recognises it by name (it imports no Ray)."""


@pytest.mark.parametrize("cancel", [RequestCancelledError("request abc cancelled"),
                                    asyncio.CancelledError()])
def test_a_member_call_cancelled_by_serve_cancels_the_run_instead_of_answering(cancel):
    """Serve cancels a gone client's child calls (an error, or a cancelled call): that
    ends the run; it must not become a degraded answer to nobody."""

    class CancelledByServe(FakeMember):
        async def __call__(self, image):
            raise cancel

    runner = two_tier([FakeMember(0), FakeMember(1)], [CancelledByServe(2), FakeMember(3)])
    with pytest.raises(asyncio.CancelledError):
        run(runner, [image(0, 1, 2, 3)])

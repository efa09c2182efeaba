"""Straggler timeout, collage batching, collage / replication shields and fault injection,
with fake members and a fake collage (no Ray)."""

import asyncio
import random

import numpy as np
import pytest
from pydantic import ValidationError

from cascade.config import parse_cascade
from cascade.redundancy import FaultsConfig, RedundancyConfig, StragglerTimeout
from serve_app.collage_batcher import BackupShed, CollageAnswer, CollageBatcher
from serve_app.member_result import MemberResult
from serve_app.redundancy import RedundancyLedger, attach_redundancy, delayed_caller
from serve_app.runner import CascadeRunner, TierPlan
from zoo.collage_grid import split_collage

NUM_CLASSES = 10
PRICES = {"T4": 0.001, "L4": 0.002}


def one_hot(label, p=0.9):
    probs = np.full(NUM_CLASSES, (1 - p) / (NUM_CLASSES - 1), dtype=np.float32)
    probs[label] = p
    return probs


class FakeMember:
    """Votes the red value of pixel (0, column); optionally slow or failing."""

    def __init__(self, column, delay=0.0, fail=False):
        self.column, self.delay, self.fail, self.calls = column, delay, fail, 0

    async def __call__(self, image):
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("replica died")
        return MemberResult(one_hot(int(image[0, self.column, 0]) % NUM_CLASSES), 0.002, 0.002,
                            1, True)


class FakeCollage:
    """Answers each cell with the vote of pixel (0, column) of that cell; records collages."""

    def __init__(self, column=2, delay=0.005, fail=False, seconds=0.004):
        self.column, self.delay, self.fail, self.seconds = column, delay, fail, seconds
        self.seen = []

    async def __call__(self, collage, filled):
        self.seen.append((collage.shape, filled))
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("collage replica died")
        cells = split_collage(collage, 2)
        probs = np.stack([one_hot(int(c[0, self.column, 0]) % NUM_CLASSES) for c in cells])
        return CollageAnswer(probs[:filled], filled, self.seconds, self.seconds, True)


def paint(*votes):
    image = np.full((32, 32, 3), 128, dtype=np.uint8)
    for column, vote in enumerate(votes):
        image[0, column, 0] = vote
    return image


def config(redundancy=None, faults=None):
    raw = {"name": "t", "tiers": [{"name": "small", "gpu_class": "T4",
                                   "members": [{"model": "resnet20"}, {"model": "cnn_a"}]}]}
    if redundancy:
        raw["redundancy"] = redundancy
    if faults:
        raw["faults"] = faults
    return parse_cascade(raw, check_models=False)


def runner_with(members, redundancy=None, faults=None, collage=None):
    cfg = config(redundancy, faults)
    plans = [TierPlan("small", 0, "T4", "agreement", 1.0, "vote", ("m0", "m1"), tuple(members))]
    plans, ledger = attach_redundancy(cfg, plans, collage)
    return CascadeRunner(plans, NUM_CLASSES, PRICES), ledger


COLLAGE = {"kind": "collage", "grid": 2, "gpu_class": "L4", "straggler_timeout_ms": 50,
           "window_ms": 5}


# ---------------------------------------------------------------- the straggler timeout
def test_fixed_timeout_ignores_history():
    policy = StragglerTimeout(fixed_ms=80)
    for _ in range(50):
        policy.observe("m", 500.0)
    assert policy.timeout_ms("m") == 80


def test_adaptive_timeout_is_margin_times_recent_p95_per_member():
    policy = StragglerTimeout(margin=1.5, window=100, min_samples=20, initial_ms=300)
    assert policy.timeout_ms("m") == 300  # no history yet
    for value in range(1, 101):  # 1..100 ms
        policy.observe("m", float(value))
    assert policy.timeout_ms("m") == pytest.approx(1.5 * np.percentile(np.arange(1, 101), 95))
    assert policy.timeout_ms("other") == 300  # per member
    for _ in range(100):  # the window forgets old latencies
        policy.observe("m", 10.0)
    assert policy.timeout_ms("m") == pytest.approx(15.0)


def test_median_latency_is_known_per_member_once_it_has_min_samples():
    policy = StragglerTimeout(min_samples=3)
    for value in (10.0, 30.0, 20.0):
        policy.observe("m", value)
    policy.observe("new", 5.0)
    assert policy.median_ms() == {"m": 20.0}


def test_adaptive_timeout_has_a_floor():
    policy = StragglerTimeout(margin=1.0, min_samples=1, floor_ms=5)
    policy.observe("m", 0.1)
    assert policy.timeout_ms("m") == 5


# ---------------------------------------------------------------- collage batching
def test_batcher_fills_collages_and_pads_the_partial_tail():
    collage = FakeCollage()

    async def go():
        batcher = CollageBatcher(collage, grid=2, window_s=0.01)
        futures = [batcher.submit(paint(0, 0, label)) for label in range(5)]
        return await asyncio.gather(*futures)

    answers = asyncio.run(go())
    assert [int(a.probs.argmax()) for a in answers] == [0, 1, 2, 3, 4]
    assert collage.seen == [((64, 64, 3), 4), ((64, 64, 3), 1)]  # full, then partial
    assert [a.filled for a in answers] == [4, 4, 4, 4, 1]
    assert answers[0].device_seconds == pytest.approx(0.001) and answers[4].device_seconds == 0.004


def test_batcher_sheds_groups_beyond_its_inflight_bound_and_says_how_many_images():
    shed = []

    async def go():
        batcher = CollageBatcher(FakeCollage(delay=0.05), grid=2, window_s=0.01,
                                 max_inflight=1, on_shed=shed.append)
        futures = [batcher.submit(paint(0, 0, label)) for label in range(6)]
        return await asyncio.gather(*futures, return_exceptions=True)

    answers = asyncio.run(go())
    assert [int(a.probs.argmax()) for a in answers[:4]] == [0, 1, 2, 3]  # the first collage
    assert all(isinstance(a, BackupShed) for a in answers[4:])  # the second: no room
    assert shed == [2]
    with pytest.raises(ValueError, match="max_inflight_collages"):
        CollageBatcher(FakeCollage(), max_inflight=0)


# ---------------------------------------------------------------- collage shield in the runner
def test_a_shed_backup_leaves_the_slow_member_to_answer_for_itself():
    spec = dict(COLLAGE, max_inflight_collages=1)
    slow_collage = FakeCollage(column=2, delay=0.5)
    runner, ledger = runner_with([FakeMember(0), FakeMember(1, delay=0.15)], spec,
                                 collage=slow_collage)
    images = [paint(i, i, (i + 1) % 10) for i in range(8)]  # two collages; room for one
    outs = asyncio.run(runner.run(images))
    assert [o.label for o in outs] == list(range(8))  # every answer from the members
    assert all(o.source == "members" for o in outs)
    assert ledger.backup_shed_images == 4 and ledger.answers_from_backup == 0


def test_slow_member_is_replaced_by_its_collage_cell():
    slow = FakeMember(1, delay=1.0)
    runner, ledger = runner_with([FakeMember(0), slow], COLLAGE, collage=FakeCollage(column=2))
    (out,) = asyncio.run(runner.run([paint(7, 3, 7)]))  # collage agrees with m0
    assert out.label == 7 and out.source == "collage" and out.degraded
    assert out.latency_ms < 500  # did not wait for the 1 s straggler
    (trace,) = out.tiers
    assert trace.collage == ["m1"] and trace.votes == {"m0": 7, "m1": 7}
    assert any("m1 later than 50 ms" in r for r in out.reasons)
    assert ledger.answers_from_backup == 1 and ledger.straggler_timeouts == 1
    assert ledger.backup_calls == 1 and ledger.device_seconds == pytest.approx(0.004)
    assert out.cost.device_seconds_by_member["small/collage"] == pytest.approx(0.004)
    assert "small/m1" not in out.cost.device_seconds_by_member  # the straggler is not billed


def test_a_tier_slow_as_a_whole_is_load_not_a_straggler_and_keeps_its_members_answers():
    # both members past the 50-ms timeout, the collage fast: neither is 50 ms behind the other
    members = [FakeMember(0, delay=0.2), FakeMember(1, delay=0.22)]
    runner, ledger = runner_with(members, COLLAGE, collage=FakeCollage(column=2, delay=0.0))
    images = [paint(i, i, (i + 1) % 10) for i in range(2)]  # the collage would disagree
    outs = asyncio.run(runner.run(images))
    assert [o.label for o in outs] == [0, 1]
    assert all(o.source == "members" and not o.degraded for o in outs)
    assert ledger.answers_from_backup == 0 and ledger.tier_slow_waits == 4


def test_in_a_slow_tier_a_member_far_behind_its_first_peer_still_straggles():
    members = [FakeMember(0, delay=0.2), FakeMember(1, delay=1.0)]
    runner, ledger = runner_with(members, COLLAGE, collage=FakeCollage(column=2, delay=0.0))
    (out,) = asyncio.run(runner.run([paint(7, 3, 7)]))  # the collage agrees with m0
    assert out.label == 7 and out.source == "collage" and out.degraded
    assert out.latency_ms < 500  # 50 ms after m0's answer, not m1's 1 s
    assert ledger.tier_slow_waits == 2 and ledger.answers_from_backup == 1
    assert any("m1 50 ms behind the tier's first answer" in r for r in out.reasons)


def test_failed_member_is_replaced_at_once():
    runner, ledger = runner_with([FakeMember(0), FakeMember(1, fail=True)], COLLAGE,
                                 collage=FakeCollage(column=2))
    (out,) = asyncio.run(runner.run([paint(4, 9, 4)]))
    assert out.label == 4 and out.source == "collage" and ledger.member_failures == 1
    assert not out.tiers[0].failed  # the slot was answered by the collage


def test_fast_members_keep_their_answers_and_the_eager_collage_is_still_billed():
    spec = dict(COLLAGE, straggler_timeout_ms=5000,  # generous: a loaded CI host is slow
                skip_answered=False)  # the paper's eager collages: every image backed up
    runner, ledger = runner_with([FakeMember(0), FakeMember(1)], spec,
                                 collage=FakeCollage(column=2, delay=0.0))
    images = [paint(i, i, (i + 1) % 10) for i in range(6)]  # the collage would disagree

    async def go():
        outs = await runner.run(images)
        await asyncio.sleep(0.1)  # the partial collage's window ends after the answers
        return outs

    outs = asyncio.run(go())
    assert [o.label for o in outs] == list(range(6))
    assert all(o.source == "members" and not o.degraded for o in outs)
    assert ledger.answers_from_backup == 0 and ledger.backup_images == 6
    assert ledger.backup_calls == 2  # 4 + 2 (partial) images


def test_images_answered_before_their_group_leaves_get_no_collage():
    spec = dict(COLLAGE, straggler_timeout_ms=5000, window_ms=80)
    collage = FakeCollage(column=2, delay=0.0)
    members = [FakeMember(0), FakeMember(1, delay=0.03)]  # every call ends inside the window
    runner, ledger = runner_with(members, spec, collage=collage)
    images = [paint(i, i, (i + 1) % 10) for i in range(6)]

    async def go():
        outs = await runner.run(images)
        await asyncio.sleep(0.15)  # past the window: nothing is left to send
        return outs

    outs = asyncio.run(go())
    assert [o.label for o in outs] == list(range(6))
    assert collage.seen == [] and ledger.backup_calls == 0 and ledger.device_seconds == 0
    assert ledger.backup_skipped_images == 6
    assert all("small/collage" not in o.cost.device_seconds_by_member for o in outs)


def test_only_images_still_waiting_at_the_windows_end_go_into_the_collage():
    spec = dict(COLLAGE, straggler_timeout_ms=60, window_ms=20)
    slow = FakeMember(1, delay=0.0)
    delays = iter([0.0, 0.5, 0.0, 0.0, 0.5])  # images 1 and 4: m1 straggles

    async def m1(image):
        slow.delay = next(delays)
        return await slow(image)

    collage = FakeCollage(column=2, delay=0.0)
    runner, ledger = runner_with([FakeMember(0), m1], spec, collage=collage)
    images = [paint(i, i, i) for i in range(5)]  # the collage agrees with m0
    outs = asyncio.run(runner.run(images))
    assert [o.label for o in outs] == list(range(5))
    assert [o.source for o in outs] == ["members", "collage", "members", "members", "collage"]
    assert collage.seen == [((64, 64, 3), 2)]  # one partial collage of the two stragglers
    assert ledger.backup_skipped_images == 3 and ledger.answers_from_backup == 2
    assert outs[1].latency_ms < 300


def test_a_failed_call_keeps_its_image_in_the_group():
    spec = dict(COLLAGE, straggler_timeout_ms=5000, window_ms=30)
    collage = FakeCollage(column=2, delay=0.0)
    runner, ledger = runner_with([FakeMember(0), FakeMember(1, fail=True)], spec,
                                 collage=collage)
    (out,) = asyncio.run(runner.run([paint(4, 9, 4)]))
    assert out.label == 4 and out.source == "collage"
    assert collage.seen == [((64, 64, 3), 1)] and ledger.backup_skipped_images == 0


def test_batcher_withdraws_only_unsent_images():
    collage = FakeCollage(delay=0.0)

    async def go():
        batcher = CollageBatcher(collage, grid=2, window_s=0.02, only_waiting=True)
        futures = [batcher.submit(paint(0, 0, label)) for label in range(5)]
        assert batcher.withdraw(futures[1]) and futures[1].cancelled()
        assert not batcher.withdraw(futures[1])  # already out
        answers = await asyncio.gather(*(f for i, f in enumerate(futures) if i != 1))
        assert not batcher.withdraw(futures[0])  # sent: it stays in its collage
        return answers

    answers = asyncio.run(go())
    assert [int(a.probs.argmax()) for a in answers] == [0, 2, 3, 4]
    assert collage.seen == [((64, 64, 3), 4)]  # four left, sent at the window's end


def test_member_answer_wins_if_the_collage_fails_too():
    runner, ledger = runner_with([FakeMember(0), FakeMember(1, delay=0.15)], COLLAGE,
                                 collage=FakeCollage(fail=True))
    (out,) = asyncio.run(runner.run([paint(5, 5, 1)]))
    assert out.label == 5 and out.source == "members"
    assert ledger.straggler_timeouts == 1 and ledger.answers_from_backup == 0


def test_adaptive_timeout_learns_member_latency():
    spec = dict(COLLAGE, straggler_timeout_ms="adaptive", adaptive_min_samples=3,
                adaptive_initial_ms=1000)
    member = FakeMember(1, delay=0.01)
    runner, ledger = runner_with([FakeMember(0), member], spec, collage=FakeCollage(column=2))
    for _ in range(3):
        asyncio.run(runner.run([paint(1, 1, 1)]))
    member.delay = 0.5  # now it straggles: 50x its learned p95
    (out,) = asyncio.run(runner.run([paint(2, 2, 2)]))
    assert out.source == "collage" and out.latency_ms < 300


# ---------------------------------------------------------------- replication
def test_replication_first_answer_wins_and_loser_is_billed():
    delays = iter([0.5, 0.0, 0.0, 0.5])  # per call: copy A slow, B fast, ...

    class Flaky(FakeMember):
        async def __call__(self, image):
            self.delay = next(delays)
            return await super().__call__(image)

    member = Flaky(0)

    async def go():
        runner, ledger = runner_with([member, FakeMember(0)], {"kind": "replication"})
        runner.tiers = (runner.tiers[0],)
        (out,) = await runner.run([paint(3, 3)])
        await asyncio.sleep(0.6)  # the losing copy finishes
        return out, ledger

    out, ledger = asyncio.run(go())
    assert out.label == 3 and out.latency_ms < 400 and member.calls == 2
    assert ledger.backup_calls == 2  # both members' calls were duplicated
    assert ledger.device_seconds == pytest.approx(0.004)  # two losing copies x 0.002


# ---------------------------------------------------------------- fault injection
def test_delayed_caller_delays_the_chosen_fraction_by_a_factor():
    faults = FaultsConfig(fraction=1.0, factor=10)
    ledger = RedundancyLedger(kind="none")
    call = delayed_caller(FakeMember(0, delay=0.02), faults, random.Random(0), ledger)

    async def timed():
        loop = asyncio.get_running_loop()
        start = loop.time()
        await call(paint(1))
        return loop.time() - start

    assert asyncio.run(timed()) >= 0.19 and ledger.delayed_calls == 1
    none = delayed_caller(FakeMember(0), FaultsConfig(fraction=0.0, delay_ms=500),
                          random.Random(0), ledger)
    asyncio.run(none(paint(1)))
    assert ledger.delayed_calls == 1


def test_faults_are_reported_and_off_unless_set():
    _, ledger = runner_with([FakeMember(0), FakeMember(1)],
                            faults={"fraction": 0.05, "factor": 10})
    assert ledger.faults.startswith("faults injected: 5.0% of member calls delayed by 10x")
    assert config().faults is None and config().redundancy is None


# ---------------------------------------------------------------- config validation
def test_config_errors_name_the_field():
    with pytest.raises(ValidationError, match="gpu_class"):
        RedundancyConfig(kind="collage")
    with pytest.raises(ValidationError, match="grid 4 is not supported"):
        RedundancyConfig(kind="collage", grid=4, gpu_class="L4")
    with pytest.raises(ValidationError, match="redundancy.tier"):
        config({"kind": "replication", "tier": 3})
    with pytest.raises(ValidationError, match="exactly one of factor or delay_ms"):
        FaultsConfig(fraction=0.1)
    with pytest.raises(ValidationError, match="faults.tiers"):
        config(faults={"fraction": 0.1, "factor": 2, "tiers": ["nope"]})
    with pytest.raises(ValidationError, match="unknown GPU class"):
        config({"kind": "collage", "gpu_class": "V100"})


def test_stats_show_each_members_current_timeout():
    runner, ledger = runner_with([FakeMember(0), FakeMember(1)], COLLAGE,
                                 collage=FakeCollage(column=2))
    assert ledger.snapshot()["straggler_timeout_ms"] == {}  # no member answered yet
    asyncio.run(runner.run([paint(1, 1, 1)]))
    assert ledger.snapshot()["straggler_timeout_ms"] == {"m0": 50.0, "m1": 50.0}
    _, none_ledger = runner_with([FakeMember(0), FakeMember(1)])
    assert none_ledger.snapshot()["straggler_timeout_ms"] is None  # no collage, no timeout


def test_the_adaptive_timeout_reports_margin_times_p95():
    policy = StragglerTimeout(margin=2.0, min_samples=3)
    for ms in (10.0, 10.0, 10.0, 10.0):
        policy.observe("m", ms)
    assert policy.current_ms() == {"m": 20.0}


# ---------------------------------------------------------------- a window ready by the timeout
def test_the_window_leaves_the_collage_call_its_time_before_the_timeout():
    from cascade.redundancy import ready_by_timeout_window_s

    assert ready_by_timeout_window_s(0.06, 0.05, None) == 0.06  # no call timed yet: longest
    assert ready_by_timeout_window_s(0.06, 0.05, 0.02) == pytest.approx(0.03)
    assert ready_by_timeout_window_s(0.06, 0.20, 0.02) == 0.06  # never beyond window_ms
    assert ready_by_timeout_window_s(0.06, 0.05, 0.09, min_window_s=0.002) == 0.002


def test_the_earliest_timeout_is_the_shortest_members():
    assert StragglerTimeout(fixed_ms=80).earliest_ms() == 80
    policy = StragglerTimeout(margin=2.0, min_samples=1, initial_ms=300)
    assert policy.earliest_ms() == 300  # nothing observed yet
    policy.observe("fast", 10.0)
    policy.observe("slow", 40.0)
    assert policy.earliest_ms() == pytest.approx(20.0)


def test_batcher_shortens_its_window_once_it_knows_the_collage_calls_time():
    windows = []

    def window_for(call_s):
        windows.append(call_s)
        return 5.0 if call_s is None else 0.01  # the first group waits "forever"

    async def go():
        batcher = CollageBatcher(FakeCollage(delay=0.02), grid=2, window_s=5.0,
                                 window_for=window_for)
        await asyncio.gather(*[batcher.submit(paint(0, 0, i)) for i in range(4)])  # full
        assert batcher.call_median_s() == pytest.approx(0.02, abs=0.015)
        return await asyncio.wait_for(batcher.submit(paint(0, 0, 9)), timeout=1.0)

    answer = asyncio.run(go())  # a lone image went out on the short window, not after 5 s
    assert int(answer.probs.argmax()) == 9 and answer.filled == 1
    assert windows[0] is None  # the first group's timer: before any call was timed
    assert windows[1] == pytest.approx(0.02, abs=0.015)


def test_stats_show_the_collage_calls_time_the_window_and_how_long_stand_ins_waited():
    slow = FakeMember(1, delay=1.0)
    spec = dict(COLLAGE, straggler_timeout_ms=50, window_ms=40)
    runner, ledger = runner_with([FakeMember(0), slow], spec,
                                 collage=FakeCollage(column=2, delay=0.1))
    assert ledger.snapshot()["cell_wait_ms"] is None
    (out,) = asyncio.run(runner.run([paint(7, 3, 7)]))
    assert out.source == "collage"
    stats = ledger.snapshot()
    # the cell came back ~140 ms after the call (40-ms window + 100-ms collage call), 90
    # ms after the 50-ms timeout: the stand-in waited for its cell
    assert stats["cell_wait_ms"]["count"] == 1 and 40 < stats["cell_wait_ms"]["p50"] < 400
    assert stats["collage_call_median_ms"] >= 100
    # the next window leaves the collage call its time: 50 ms - 100+ ms, floored at 2 ms
    assert stats["collage_window_ms"] == pytest.approx(2.0)


# ---------------------------------------------------------------- the peer-lag rule
def test_peer_lag_slack_is_margin_times_p95_of_the_lags_with_a_floor():
    from cascade.redundancy import PeerLag

    lag = PeerLag(margin=2.0, floor_ms=10.0, window=100, min_samples=20)
    assert lag.slack_ms("m") is None  # too few lags known
    for value in range(100):
        lag.observe("m", float(value % 20))  # 0..19 ms
    assert lag.slack_ms("m") == pytest.approx(2.0 * np.percentile(np.arange(100) % 20, 95))
    for _ in range(100):
        lag.observe("first", -3.0)  # answered first: a lag below 0 counts as 0
    assert lag.slack_ms("first") == 10.0  # the floor
    assert lag.snapshot()["first"] == {"lag_p50": 0.0, "lag_p95": 0.0, "slack_ms": 10.0}
    assert PeerLag(margin=None).slack_ms("m") is None  # the rule is off


def test_earliest_declaration_is_a_peers_median_answer_plus_the_members_slack():
    from cascade.redundancy import PeerLag

    lag = PeerLag(margin=2.0, floor_ms=5.0, min_samples=3)
    for a, b in ((0.0, 20.0), (0.0, 30.0), (0.0, 25.0)):  # a answers first, b ~25 ms later
        lag.observe("a", a)
        lag.observe("b", b)
    slack_b = lag.slack_ms("b")
    # a straggles only once b (median 40 ms) answered: 40 + 5; b once a (15 ms) did
    medians = {"a": 15.0, "b": 40.0}
    assert lag.earliest_declaration_ms(medians) == pytest.approx(min(40.0 + 5.0, 15.0 + slack_b))
    assert lag.earliest_declaration_ms({"a": 15.0}) == pytest.approx(15.0 + slack_b)
    assert lag.earliest_declaration_ms({}) is None  # no peer's median known yet


def test_peer_lag_rule_declares_a_straggler_soon_after_its_peer_whatever_the_host_speed():
    # m0 answers in 100 ms and m1 30 ms after it (a slow host: both late); the own-latency
    # timeout would be 5 s. The peer-lag rule learns m1's lag (30 ms) and, when m1 stalls,
    # replaces it 2 x 30 ms after m0's answer.
    spec = dict(COLLAGE, straggler_timeout_ms=5000, peer_lag_margin=2.0, peer_lag_floor_ms=5,
                adaptive_min_samples=20, window_ms=5)
    m0, m1 = FakeMember(0, delay=0.10), FakeMember(1, delay=0.13)
    runner, ledger = runner_with([m0, m1], spec, collage=FakeCollage(column=2, delay=0.0))
    learned = asyncio.run(runner.run([paint(i, i, i) for i in range(24)]))  # lags learned
    assert all(o.source == "members" for o in learned)  # no fault: nobody replaced
    lags = ledger.snapshot()["peer_lag_ms"]
    assert lags["m0"]["lag_p95"] == 0.0 and 20.0 < lags["m1"]["lag_p95"] < 60.0
    m1.delay = 2.0  # now m1 stalls
    (out,) = asyncio.run(runner.run([paint(7, 3, 7)]))
    assert out.source == "collage" and out.label == 7
    assert out.latency_ms < 100 + 2 * 60 + 150  # soon after m0, far below 2 s or 5 s
    assert any("behind the tier's first answer" in r for r in out.reasons)
    assert ledger.snapshot()["peer_lag_rule"] is True


def test_without_the_margin_the_lags_are_only_reported():
    spec = dict(COLLAGE, straggler_timeout_ms=5000, adaptive_min_samples=5, window_ms=5)
    runner, ledger = runner_with([FakeMember(0), FakeMember(1, delay=0.02)], spec,
                                 collage=FakeCollage(column=2, delay=0.0))
    asyncio.run(runner.run([paint(i, i, i) for i in range(6)]))
    snap = ledger.snapshot()
    assert snap["peer_lag_rule"] is False
    assert snap["peer_lag_ms"]["m1"]["slack_ms"] is None and snap["peer_lag_ms"]["m1"][
        "lag_p50"] > 10.0


def test_peer_lag_margin_is_validated_by_name():
    with pytest.raises(ValidationError, match="peer_lag_margin"):
        config(dict(COLLAGE, peer_lag_margin=0.5))

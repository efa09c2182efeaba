"""Member costs: measured GPU timings win over CPU emulation; emulation divides by throughput."""

import pytest

from cost_model.catalog import load_catalog
from planner.profile import MemberProfile, ProfileFile, cost_table


def test_measured_profile_overrides_emulation_and_prices_by_class():
    local = ProfileFile(members={
        "a": MemberProfile(model="a", mflops=40.0, cpu_seconds_per_image={1: 0.004, 8: 0.002}),
        "b": MemberProfile(model="b", cpu_seconds_per_image={8: 0.010}),
    })
    real = ProfileFile(members={
        "a": MemberProfile(model="a", device_seconds_per_image={"A100-40GB": {8: 0.0001}}),
    })
    table = cost_table(local, ["T4", "A100-40GB"], batch_size=8, measured=real)
    catalog = load_catalog()
    assert table.member_ms("a", "A100-40GB") == pytest.approx(0.1)  # measured, used as is
    assert table.member_ms("a", "T4") == pytest.approx(2.0)  # emulated, T4 throughput 1.0
    rel = catalog.get("A100-40GB").relative_throughput
    assert table.member_ms("b", "A100-40GB") == pytest.approx(10.0 / rel)
    price = catalog.get("T4").price_per_hour_usd / 3600 / 1000
    assert table.member_usd("b", "T4") == pytest.approx(10.0 * price)
    assert table.emulated and table.mflops == {"a": 40.0}


def test_member_without_any_timing_is_named():
    empty = ProfileFile(members={"ghost": MemberProfile(model="ghost")})
    with pytest.raises(ValueError, match="ghost"):
        cost_table(empty, ["T4"])

"""The host-CPU breakdown of the live autoscale check: roles and per-window sums."""

import pytest

from load_tests.experiments.host_cpu import CLIENT, ROLES, cpu_by_window, role_of


@pytest.mark.parametrize("title, is_self, role", [
    ("", True, CLIENT),
    ("/venv/bin/python -c from multiprocessing.spawn import spawn_main", False, CLIENT),
    ("ray::ProxyActor", False, "proxy"),
    ("ray::ServeReplica:coe:CascadeIngress", False, "ingress"),
    ("ray::ServeReplica:coe:tier0-resnet20", False, "members"),
    ("ray::ServeController", False, "serve_controller"),
    ("/usr/bin/raylet --foo", False, "ray_system"),
])
def test_role_of(title, is_self, role):
    assert role_of(title, is_self) == role
    assert role in ROLES


def test_cpu_by_window_sums_each_process_between_the_samples_inside_each_window():
    proxy, old, new = (1, 0.0), (2, 0.0), (3, 5.0)
    samples = [(0.0, {proxy: ("proxy", 0.0), old: ("members", 0.0)}),
               (1.0, {proxy: ("proxy", 0.5), old: ("members", 1.0)}),
               (3.0, {proxy: ("proxy", 1.5), old: ("members", 3.0)}),
               # the old member replica stopped; a new one started with 0.5 s spent
               (4.0, {proxy: ("proxy", 2.0), new: ("members", 0.5)})]
    out = cpu_by_window(samples, {"a": (0.5, 3.0), "b": (3.0, 4.0), "empty": (10, 11)},
                        {"a": 10, "b": 0}, cores=2.0)
    a = out["a"]
    assert a["seconds"] == 2.0
    assert a["cpu_seconds_by_role"]["proxy"] == 1.0
    assert a["cpu_seconds_by_role"]["members"] == 2.0
    assert a["busy_cores"] == pytest.approx(1.5)
    assert a["utilisation"] == pytest.approx(0.75)
    assert a["cpu_ms_per_request"] == pytest.approx(300.0)
    assert a["cpu_ms_per_request_by_role"]["proxy"] == pytest.approx(100.0)
    b = out["b"]
    # the stopped replica keeps its last sample (3.0 - 3.0); the new one counts in full
    assert b["cpu_seconds_by_role"]["members"] == pytest.approx(0.5)
    assert b["cpu_seconds_by_role"]["proxy"] == pytest.approx(0.5)
    assert b["cpu_ms_per_request"] is None  # no requests in the window
    assert out["empty"] is None

"""The soak's host-speed probe: per-minute medians of a fixed work unit's CPU time."""

from load_tests.chaos.host_speed import HostSpeedProbe, host_counters, speed_by_minute


def test_minutes_are_compared_with_minute_zero_by_their_medians():
    start = 1000.0
    samples = [
        (start + 5, 10.0, 4.0, {}), (start + 30, 12.0, 4.0, {}),
        (start + 55, 50.0, 4.0, {}),  # minute 0: median 12
        (start + 65, 18.0, 6.0, {}), (start + 90, 18.0, 6.0, {}),  # minute 1: 1.5x slower
        (start + 130, 12.0, 2.0, {}),  # minute 2: past a 2-minute soak, dropped
        (start - 3, 99.0, 99.0, {}),  # before the load: dropped
    ]
    minutes = speed_by_minute(samples, start, duration_s=120.0)
    assert [m["minute"] for m in minutes] == [0, 1]
    assert minutes[0]["loop_cpu_ms"] == 12.0 and minutes[0]["loop_over_minute0"] == 1.0
    assert minutes[1]["loop_over_minute0"] == 1.5
    assert minutes[1]["stream_over_minute0"] == 1.5
    assert minutes[1]["samples"] == 2


def test_no_sample_in_minute_zero_gives_no_comparison():
    assert speed_by_minute([(1070.0, 10.0, 3.0, {})], 1000.0, duration_s=120.0) == []


def test_the_probe_process_samples_until_stopped():
    import time

    probe = HostSpeedProbe(every_s=0.05).start()
    time.sleep(1.5)
    samples = probe.stop()
    assert samples, "the spawned probe returned no sample"
    assert all(loop_ms > 0 and stream_ms > 0 for _, loop_ms, stream_ms, _ in samples)
    assert "pgmajfault" in samples[0][3]
    assert [s[0] for s in samples] == sorted(s[0] for s in samples)


def test_host_counters_grow_by_minute_from_the_last_sample_before():
    start = 0.0
    samples = [
        (10.0, 10.0, 4.0, {"pgmajfault": 100}), (50.0, 10.0, 4.0, {"pgmajfault": 103}),
        (70.0, 10.0, 4.0, {"pgmajfault": 150}), (110.0, 10.0, 4.0, {"pgmajfault": 400}),
    ]
    minutes = speed_by_minute(samples, start, duration_s=120.0)
    assert [m["host_counters_delta"] for m in minutes] == [{"pgmajfault": 3},
                                                           {"pgmajfault": 297}]


def test_the_host_counters_are_read_on_linux():
    counters = host_counters()
    assert {"pgmajfault", "workingset_refault_file"} <= set(counters)
    assert all(isinstance(v, int) and v >= 0 for v in counters.values())

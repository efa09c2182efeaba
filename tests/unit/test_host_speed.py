"""The soak's host-speed probe: per-minute medians of a fixed work unit's CPU time."""

from load_tests.chaos.host_speed import HostSpeedProbe, speed_by_minute


def test_minutes_are_compared_with_minute_zero_by_their_medians():
    start = 1000.0
    samples = [
        (start + 5, 10.0, 4.0), (start + 30, 12.0, 4.0), (start + 55, 50.0, 4.0),  # 0: 12
        (start + 65, 18.0, 6.0), (start + 90, 18.0, 6.0),  # minute 1: 1.5x slower
        (start + 130, 12.0, 2.0),  # minute 2: past a 2-minute soak, dropped
        (start - 3, 99.0, 99.0),  # before the load: dropped
    ]
    minutes = speed_by_minute(samples, start, duration_s=120.0)
    assert [m["minute"] for m in minutes] == [0, 1]
    assert minutes[0]["loop_cpu_ms"] == 12.0 and minutes[0]["loop_over_minute0"] == 1.0
    assert minutes[1]["loop_over_minute0"] == 1.5
    assert minutes[1]["stream_over_minute0"] == 1.5
    assert minutes[1]["samples"] == 2


def test_no_sample_in_minute_zero_gives_no_comparison():
    assert speed_by_minute([(1070.0, 10.0, 3.0)], 1000.0, duration_s=120.0) == []


def test_the_probe_process_samples_until_stopped():
    import time

    probe = HostSpeedProbe(every_s=0.05).start()
    time.sleep(1.5)
    samples = probe.stop()
    assert samples, "the spawned probe returned no sample"
    assert all(loop_ms > 0 and stream_ms > 0 for _, loop_ms, stream_ms in samples)
    assert [s[0] for s in samples] == sorted(s[0] for s in samples)

"""The load client: schedules, the async HTTP driver, per-request records, reports, Locust."""

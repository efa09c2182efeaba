"""The `coe chaos` run: fault injection, bad-input probes, accounting and the overload rule."""

"""Benchmarks and experiments: cascade vs baseline, heterogeneous sizing, overhead, search."""

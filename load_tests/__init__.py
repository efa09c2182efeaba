"""Load generation, benchmarks and chaos runs against a deployed cascade (see subpackages)."""

"""Measurements a user or CI runs from the repository root: ``python -m benchmarks.NAME --help``."""

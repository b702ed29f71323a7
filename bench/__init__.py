"""Benchmarks of the lifecycle: ``python bench/run.py`` (see bench/README.md)."""

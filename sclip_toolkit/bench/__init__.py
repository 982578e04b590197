"""Measuring tools behind ``tools/benchmark.py``: per-stage timing, evaluation throughput, precision comparison and
peak memory. Not imported by the toolkit itself."""

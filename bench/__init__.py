"""Benchmarks against real peers; run as ``python -m bench.<name>``."""

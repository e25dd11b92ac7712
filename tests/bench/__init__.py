"""Benchmarks: `python -m tests.bench [name ...]` (see __main__.py); one module per scenario."""

"""Benchmarks: ``python -m benchmarks --scale small|medium|large`` (``make bench``)
measures everything and writes ``docs/benchmarks.md``."""

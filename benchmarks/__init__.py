"""Reproducible benchmarks. ``make bench`` (``python -m benchmarks``) runs them all on full-size
data; ``python -m benchmarks NAME ...`` runs some. Each writes ``benchmarks/results/NAME.json``
(the figures) and ``NAME.md`` (the table a reader wants), which are committed.
"""

"""Benchmarks: each scenario measures taskhub and its baseline in the same run.

``python -m benchmarks`` (``make bench``) runs them all; ``python -m benchmarks b5 b8``
runs some. They are not tests and never run in ``make test``.
"""

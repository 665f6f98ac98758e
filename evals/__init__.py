"""Offline evaluation for Verbatim: question sets, grounding metrics and release thresholds.

`evals.metrics` holds the pure scoring code; the runner that calls the service lives elsewhere.
"""

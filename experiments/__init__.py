"""Sweeps and probes: parameter searches and one-off measurements whose findings live in docs/. Never packaged and
never imported by medkb itself; run from the repository root, ``python -m experiments.NAME``."""

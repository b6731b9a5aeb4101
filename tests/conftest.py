"""Shared test settings: hypothesis draws the same examples on every run (deterministic, no database)."""

from hypothesis import settings

settings.register_profile("ecgnb", derandomize=True, database=None, deadline=None, max_examples=100)
settings.load_profile("ecgnb")

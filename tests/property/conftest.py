"""Hypothesis settings for the property tests: one profile, moderate example counts and no per-example
deadline (a loopback request can stall behind another engineer's build), so the directory runs in
well under a minute. `ACME_HYPOTHESIS_PROFILE=thorough` runs ten times the examples by hand."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# function_scoped_fixture: the HTTP properties share one module-scoped server on purpose; too_slow: a
# signed request per example is slower than hypothesis expects of a pure function.
_RELAXED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
# derandomize: CI runs the same examples every time (a failure is reproducible, never flaky);
# `ACME_HYPOTHESIS_PROFILE=thorough` explores new ones.
settings.register_profile(
    "property", max_examples=60, deadline=None, suppress_health_check=_RELAXED, derandomize=True
)
settings.register_profile("thorough", max_examples=600, deadline=None, suppress_health_check=_RELAXED)
settings.load_profile(os.environ.get("ACME_HYPOTHESIS_PROFILE", "property"))

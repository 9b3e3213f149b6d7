"""Two sizes for every property-based test: QUICK examples in the default suite and LONG in a `slow`-marked twin
(`make test-slow`). derandomize: the examples follow from the test, so a failure reproduces on every machine."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

QUICK, LONG = 100, 3000  # examples per property


def both_sizes(check, **strategies):
    """`check(**drawn)` as two tests: (QUICK examples, LONG examples marked slow)."""

    def make(examples: int):
        @settings(max_examples=examples, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(**strategies)
        def test(**drawn):
            check(**drawn)

        test.__doc__ = check.__doc__
        return test

    return make(QUICK), pytest.mark.slow(make(LONG))

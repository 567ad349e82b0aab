"""The Hypothesis profile for the ``fuzz`` tests: a few hundred examples by
default, so CI stays quick; set RAGDIPLO_FUZZ_EXAMPLES to run more, e.g.
``RAGDIPLO_FUZZ_EXAMPLES=20000 python -m pytest -m fuzz``."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FUZZ_EXAMPLES = int(os.environ.get("RAGDIPLO_FUZZ_EXAMPLES", "300"))

settings.register_profile(
    "ragdiplo-fuzz",
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

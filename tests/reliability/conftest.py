"""Reliability fixtures: the fake model behind the CLI, an index built by the CLI,
and the Hypothesis profile for the ``fuzz`` tests (a few hundred examples by
default, so CI stays quick; RAGDIPLO_FUZZ_EXAMPLES=20000 runs more)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import FakeEmbedder
from hypothesis import HealthCheck, settings

import ragdiplo.cli.main as cli

FUZZ_EXAMPLES = int(os.environ.get("RAGDIPLO_FUZZ_EXAMPLES", "300"))

settings.register_profile(
    "ragdiplo-fuzz",
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@pytest.fixture(autouse=True)
def fake_model(monkeypatch):
    """No reliability test needs the real model: the CLI gets the fake one."""
    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: FakeEmbedder())


@pytest.fixture
def cli_index(tiny_corpus, tmp_path) -> Path:
    """The tiny corpus indexed by ``ragdiplo index`` into ``tmp_path/idx``."""
    root = tmp_path / "idx"
    assert cli.main(["index", str(tiny_corpus), "--index", str(root), "-q"]) == 0
    return root

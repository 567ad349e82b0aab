"""The test tiers hold: outside ``integration`` no real model loads and no Milvus
starts in the test process, and every test runs with a temporary home folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest


def test_a_real_embedder_outside_an_integration_test_fails_it():
    from ragdiplo.embed.onnx_backend import OnnxEmbedder

    with pytest.raises(pytest.fail.Exception, match="integration"):
        OnnxEmbedder()  # refused before anything is loaded


def test_milvus_outside_an_integration_test_fails_it(tmp_path):
    import ragdiplo.stores.milvus as milvus

    with pytest.raises(pytest.fail.Exception, match="integration"):
        milvus._client(str(tmp_path / "never.db"))
    assert not (tmp_path / "never.db").exists()


@pytest.mark.parametrize("variable", ["HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "HF_HOME", "RAGDIPLO_CACHE"])
def test_caches_and_state_live_in_temporary_folders(variable):
    temp = Path(tempfile.gettempdir()).resolve()
    assert Path(os.environ[variable]).resolve().is_relative_to(temp)
    assert Path.home().resolve().is_relative_to(temp)

"""End to end with the real bundled model over seeds/ (marked integration)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragdiplo.qa import QA

pytestmark = pytest.mark.integration

BACKSTOP = "What backstop did Starmer ask for?"


@pytest.fixture(scope="module")
def seeds_qa(real_embedder, tmp_path_factory):
    seeds = Path(__file__).parents[1] / "seeds"
    path = tmp_path_factory.mktemp("seeds") / "idx"
    qa = QA.build(seeds, path, embedder=real_embedder)
    return qa, seeds, path


def _raw(seeds: Path, doc_id: str) -> str:
    return (seeds / doc_id).read_bytes().decode("utf-8")


def test_backstop_question_is_answered_with_exact_citations(seeds_qa):
    qa, seeds, _ = seeds_qa
    ans = qa.ask(BACKSTOP)
    assert ans.text is not None
    assert ans.citations
    for c in ans.citations:
        assert _raw(seeds, c.doc_id)[c.start : c.end] == c.text
    for h in ans.retrieved:
        assert _raw(seeds, h.passage.doc_id)[h.passage.start : h.passage.end] == h.passage.text
    assert ans.text in ans.citations[0].text
    said = " ".join([ans.text] + [c.text for c in ans.citations]).lower()
    assert "reassurance force" in said or "air logistics" in said, said


def test_unanswerable_question_abstains(seeds_qa):
    qa, _, _ = seeds_qa
    ans = qa.ask("What is the capital of Australia?")
    assert ans.text is None
    assert ans.citations == ()


def test_saved_index_matches_manifest(seeds_qa, real_embedder):
    _, seeds, path = seeds_qa
    m = json.loads((path / "manifest.json").read_text())
    assert m["model_id"] == real_embedder.model_id and m["dim"] == real_embedder.dim == 384
    assert m["counts"]["documents"] == 5
    assert m["chunker"]["max_tokens"] <= real_embedder.max_tokens
    loaded = QA.load(path, embedder=real_embedder)
    assert loaded.ask(BACKSTOP).to_dict() == seeds_qa[0].ask(BACKSTOP).to_dict()


def test_cli_subprocess_ask_json(seeds_qa, tmp_path):
    _, seeds, path = seeds_qa
    # the checkout under test, not whichever copy of ragdiplo happens to be installed
    repo = str(Path(__file__).resolve().parents[1])
    pythonpath = os.pathsep.join([repo, *filter(None, [os.environ.get("PYTHONPATH")])])
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=pythonpath)
    proc = subprocess.run(
        [sys.executable, "-m", "ragdiplo", "ask", BACKSTOP, "--index", str(path), "--json"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    out = json.loads(proc.stdout)
    assert out["question"] == BACKSTOP
    assert out["answer"] is not None and out["citations"]
    for c in out["citations"]:
        assert _raw(seeds, c["doc"])[c["start"] : c["end"]] == c["text"]
    assert out["answer"] in out["citations"][0]["text"]
    assert 0 < len(out["retrieved"]) <= 10


def test_question_about_a_country_the_articles_never_name_is_not_answered(seeds_qa):
    qa, _, _ = seeds_qa
    ans = qa.ask("How many troops will Germany send?")
    assert ans.text is None and ans.citations == ()

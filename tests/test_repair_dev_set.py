"""After a repair, the repaired index answers the seeds dev set exactly as a
fresh build of the same corpus does: the real model, the shipped reader, every
dev question (integration)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

import ragdiplo.cli.main as cli
from ragdiplo.durable import file_record, seal
from ragdiplo.index.build import MANIFEST, build_index, save_index
from ragdiplo.index.load import load_index
from ragdiplo.ingest.corpus import load_corpus
from ragdiplo.qa import QA

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "gold" / "seeds_dev.jsonl"


def _reseal(root: Path) -> None:
    """The manifest's checksums recomputed, so only the meaning of the data is wrong."""
    m = json.loads((root / MANIFEST).read_text())
    for name in m["files"]:
        m["files"][name] = file_record(root / m["data"] / name)
    (root / MANIFEST).write_text(json.dumps(seal(m)))


def _answers(root: Path, embedder, questions: list[str]) -> list[dict]:
    qa = QA(load_index(root), embedder, index_path=root)
    return [qa.ask(q).to_dict() for q in questions]


@pytest.mark.parametrize("name", ["passage_vectors.npy", "sentence_vectors.npy"])
def test_a_repaired_index_answers_the_dev_set_as_a_fresh_build(tmp_path, real_embedder, capsys, name):
    if not DEV.is_file():
        pytest.skip(f"the seeds dev set is not beside the repository ({DEV.name})")
    questions = [json.loads(line)["question"] for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    seeds = ROOT / "seeds"
    built = build_index(load_corpus(seeds), real_embedder)
    fresh, damaged = save_index(built, tmp_path / "fresh"), save_index(built, tmp_path / "damaged")
    data = damaged / json.loads((damaged / MANIFEST).read_text())["data"]
    vectors = np.load(data / name)
    vectors[1::3] = np.nan
    buf = io.BytesIO()
    np.save(buf, vectors, allow_pickle=False)
    (data / name).write_bytes(buf.getvalue())
    _reseal(damaged)
    assert cli.main(["ask", questions[0], "--index", str(damaged)]) == 2
    assert cli.main(["index", str(seeds), "--index", str(damaged), "-q"]) == 0
    capsys.readouterr()
    assert _answers(damaged, real_embedder, questions) == _answers(fresh, real_embedder, questions)

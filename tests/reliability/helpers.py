"""Shared by the reliability tests: a synthetic corpus, exact index comparison,
snapshots of an index folder, and running a helper script in a subprocess."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ragdiplo.index.build import Index
from ragdiplo.types import Document

REPO = Path(__file__).resolve().parents[2]
WORDS = (  # noqa: SIM905
    "harbour deal mayor council signed dredging channel cranes strike union wages commuters trains drought farmers "
    "wheat harvest minister aid irrigation rainfall bridge river election ballot turnout budget tax hospital nurses "
    "school teachers storm flood coast ferry airport runway factory jobs export tariff court judge verdict appeal"
).split()
QUERIES = ["harbour deal cranes", "rail strike wages", "wheat harvest drought", "bridge river ferry", "court verdict"]


def news_docs(n: int, seed: int, prefix: str = "doc") -> list[Document]:
    """``n`` short articles of made-up but word-rich sentences, reproducible from ``seed``."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        sentences = []
        for _ in range(rng.randint(3, 12)):
            words = rng.choices(WORDS, k=rng.randint(5, 18))
            sentences.append(" ".join(words).capitalize() + rng.choice([".", ".", "!", "?"]))
        docs.append(
            Document(f"{prefix}-{i:04d}.txt", f"Headline {i} about {rng.choice(WORDS)}\n" + " ".join(sentences))
        )
    return docs


def write_corpus(root: Path, docs: list[Document]) -> Path:
    for d in docs:
        path = root / d.id
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(d.text.encode("utf-8"))
    return root


def assert_same_index(a: Index, b: Index, embedder: object) -> None:
    """Equal as a full rebuild would be: documents, aliases, chunker and model,
    every row and vector bit for bit, BM25 scores and search results."""
    assert a.documents == b.documents
    assert a.alias_of == b.alias_of
    assert (a.model_id, a.dim, a.chunker) == (b.model_id, b.dim, b.chunker)
    for x, y in [
        (a.passage_rows, b.passage_rows),
        (a.sentence_rows, b.sentence_rows),
        (a.passage_vectors, b.passage_vectors),
        (a.sentence_vectors, b.sentence_vectors),
    ]:
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()
    assert a.store.count() == b.store.count() == len(a)
    for q in QUERIES:
        vec = embedder.embed([q])  # type: ignore[attr-defined]
        sa, ra = a.store.search(vec, 10)
        sb, rb = b.store.search(vec, 10)
        assert ra.tolist() == rb.tolist() and sa.tobytes() == sb.tobytes()
        assert a.bm25.scores(q).tobytes() == b.bm25.scores(q).tobytes()


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under an index folder except the lock, to prove nothing changed."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "write.lock"
    }


def child_env() -> dict[str, str]:
    """Subprocesses import this checkout of ragdiplo and the tests' fake embedder."""
    path = os.pathsep.join([str(REPO), str(REPO / "tests"), *filter(None, [os.environ.get("PYTHONPATH")])])
    return dict(os.environ, PYTHONPATH=path, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


def child(*args: str | Path, prefix: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "reliability.child", *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=REPO / "tests",  # so `conftest` is the tests' own, with the fake embedder
    )


def one_line_error(stderr: str) -> str:
    """The CLI's error convention: exactly one ``ragdiplo: error:`` line, no traceback."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("ragdiplo: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def vectors_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def run_cli(capsys: Any, *argv: object) -> tuple[int, str, str]:
    """``ragdiplo ARGV`` in this process: its exit status, stdout and stderr."""
    import ragdiplo.cli.main as cli

    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(capsys: Any, *argv: object) -> str:
    """The one error line of a command that must be refused (exit status 2)."""
    code, _, err = run_cli(capsys, *argv)
    assert code == 2, err
    return one_line_error(err)

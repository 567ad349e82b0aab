"""Fuzzing the loader, the chunker behind it, and incremental updates.

Bounded by the ``ragdiplo-fuzz`` profile (tests/reliability/conftest.py): a few
hundred examples in CI, more with RAGDIPLO_FUZZ_EXAMPLES=N.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from conftest import FakeEmbedder
from hypothesis import given, settings
from hypothesis import strategies as st

from ragdiplo.errors import CorpusError
from ragdiplo.index.build import build_index
from ragdiplo.index.update import sync_documents
from ragdiplo.ingest.chunking import ChunkerConfig
from ragdiplo.ingest.corpus import TEXT_SUFFIXES, load_corpus
from ragdiplo.types import Document

from .conftest import FUZZ_EXAMPLES
from .helpers import assert_same_index

pytestmark = pytest.mark.fuzz
FUZZ = settings.get_profile("ragdiplo-fuzz")
TOK = FakeEmbedder()
LIMIT = 400  # a small per-document limit, so the size check is exercised too

NAME_CHARS = st.characters(blacklist_characters="/\\\x00", blacklist_categories=("Cs",))
names = st.text(NAME_CHARS, min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))
suffixes = st.sampled_from([".txt", ".md", ".TXT", ".Md", ".csv", ".json", ".txt.bak", ""])
paths = st.builds(
    lambda dirs, name, suffix: "/".join([*(d + ".dir" for d in dirs), name + suffix]),
    st.lists(names, max_size=2),
    names,
    suffixes,
)
NEWS = st.text(st.sampled_from(list("abc xyz.!?\n\r\t\u00a0\u2028é😀,“”")), max_size=300)
contents = st.one_of(
    NEWS.map(lambda t: t.encode("utf-8")),
    st.text(max_size=200).map(lambda t: t.encode("utf-8")),
    st.binary(max_size=200),
    st.text(st.characters(max_codepoint=255), max_size=100).map(lambda t: t.encode("latin-1")),
    st.just(b""),
    st.sampled_from([b" \n", b"\r\n\t", "\u00a0\u3000".encode()]),
)


def _expected(files: dict[str, bytes]) -> tuple[dict[str, str], set[str]]:
    """What the loader must return (id -> text) and which files it must refuse."""
    good, bad = {}, set()
    for path, data in files.items():
        parts = path.split("/")
        if any(p.startswith(".") for p in parts) or not path.lower().endswith(TEXT_SUFFIXES):
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            bad.add(path)
            continue
        if b"\x00" in data or len(data) > LIMIT or any(ord(c) < 32 or ord(c) == 127 for c in path):
            bad.add(path)
        elif text.strip():
            good[path] = text
    return good, bad


@FUZZ
@given(files=st.dictionaries(paths, contents, max_size=6))
def test_folder_loader(files):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for path, data in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(data)
        good, bad = _expected(files)
        try:
            docs = load_corpus(root, max_document_bytes=LIMIT)
        except CorpusError as err:
            message = str(err)
            assert bad or not good, message
            assert any(message.startswith(b) for b in bad) or (not bad and "no non-empty" in message), message
            return
        assert not bad
        assert {d.id: d.text for d in docs} == good
        for d in docs:
            assert d.text == (root / d.id).read_bytes().decode("utf-8")


ids = st.one_of(st.text(max_size=8), st.integers(-5, 5), st.sampled_from(["../x", "/abs", "a/../../b", "ok"]))
rows = st.one_of(
    st.fixed_dictionaries(
        {"id": ids, "text": st.text(max_size=60)}, optional={"title": st.one_of(st.text(max_size=8), st.integers())}
    ),
    st.fixed_dictionaries({"_id": ids, "text": st.text(max_size=60)}),
    st.fixed_dictionaries({"id": ids}),
    st.lists(st.integers(), max_size=2),
)
lines = st.one_of(
    rows.map(lambda r: json.dumps(r)),
    rows.map(lambda r: json.dumps(r, ensure_ascii=False)),
    st.sampled_from(["", "   ", "{", '{"id": "x", "text": "\\ud800"}', "null", '"text"']),
)


@FUZZ
@given(lines=st.lists(lines, max_size=8), sep=st.sampled_from(["\n", "\r\n"]))
def test_jsonl_loader(lines, sep):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.jsonl"
        path.write_text(sep.join(lines), encoding="utf-8")
        try:
            docs = load_corpus(path)
        except CorpusError as err:
            assert str(err).startswith(("c.jsonl:", str(path))), err
            return
    assert len({d.id for d in docs}) == len(docs)
    by_line = [json.loads(line) for line in lines if line.strip()]
    texts = [r["text"] for r in by_line if r["text"].strip()]
    assert [d.text for d in docs] == texts
    for d in docs:
        assert d.id and ".." not in d.id.split("/") and not d.id.startswith("/")


@st.composite
def chunkers(draw) -> ChunkerConfig:
    size = draw(st.integers(8, 64))
    return ChunkerConfig(size, draw(st.integers(0, size - 1)))


@FUZZ
@given(texts=st.lists(st.one_of(NEWS, st.text(max_size=300)), min_size=1, max_size=3), chunker=chunkers())
def test_loaded_documents_are_chunked_exactly_and_completely(texts, chunker):
    """File bytes → loader → chunker → index: every passage is an exact slice of the
    file as decoded, within the token budget, and covers every non-space character."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i, text in enumerate(texts):
            (root / f"{i}.txt").write_bytes(text.encode("utf-8"))
        try:
            docs = load_corpus(root)
        except CorpusError as err:
            assert "no non-empty" in str(err) or "binary" in str(err)  # blank texts, or a NUL character
            return
        index = build_index(docs, TOK, chunker)
        raw = {d.id: (root / d.id).read_bytes().decode("utf-8") for d in index.documents}
    covered = {doc_id: bytearray(len(text)) for doc_id, text in raw.items()}
    for row in range(len(index)):
        p = index.passage(row)
        assert raw[p.doc_id][p.start : p.end] == p.text
        assert len(TOK.token_spans(p.text)) <= chunker.max_tokens
        covered[p.doc_id][p.start : p.end] = b"\x01" * (p.end - p.start)
        for s in index.sentences_in(row):
            doc, start, end = index.sentence(s)
            assert doc.id == p.doc_id and p.start <= start < end <= p.end
    for doc_id, text in raw.items():
        missing = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[doc_id][i]]
        assert not missing, (doc_id, [text[i] for i in missing[:5]])


TEXTS = st.sampled_from(
    [
        "Harbour deal signed in Port Vesta. Cranes arrive in May.",
        "Rail strike ends in Kessel. Trains run on Monday.",
        "Drought hits Oran valley farmers. Aid of two million promised.",
        "A bridge opened in Lindau.\nIt spans the river.",
        "Court verdict due on Friday! The judge said so?",
    ]
)
corpora = st.dictionaries(st.sampled_from([f"d{i}.txt" for i in range(6)]), TEXTS, min_size=1, max_size=6)


@settings(FUZZ, max_examples=max(10, FUZZ_EXAMPLES // 10))
@given(steps=st.lists(corpora, min_size=1, max_size=4))
def test_any_sequence_of_updates_equals_a_full_rebuild(steps):
    """Add, change, delete and duplicate documents in any order: after every step
    the incrementally updated index is the full rebuild of that corpus."""
    e = FakeEmbedder()
    index = None
    for corpus in steps:
        docs = [Document(i, t) for i, t in corpus.items()]
        index, changes = sync_documents(index, docs, e, ChunkerConfig(16, 4))
        assert_same_index(index, build_index(docs, e, ChunkerConfig(16, 4)), e)
        assert sorted(index.ids) == sorted(corpus)
        assert changes.embedded <= len(set(corpus.values()))

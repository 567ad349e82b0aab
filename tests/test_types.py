"""Validation and serialisation of the plain data types."""

from __future__ import annotations

import json

import pytest

from ragdiplo.types import Answer, Citation, Document, Hit, Passage


def test_passage_accepts_matching_span():
    p = Passage("a.txt", 3, 8, "hello")
    assert (p.start, p.end, p.text) == (3, 8, "hello")


@pytest.mark.parametrize(("start", "end", "text"), [(0, 4, "hello"), (0, 6, "hello"), (-1, 4, "hello"), (5, 4, "")])
def test_passage_rejects_bad_span(start, end, text):
    with pytest.raises(ValueError):
        Passage("a.txt", start, end, text)


@pytest.mark.parametrize(("start", "end", "text"), [(0, 4, "hello"), (2, 1, ""), (-2, 3, "hello")])
def test_citation_rejects_bad_span(start, end, text):
    with pytest.raises(ValueError):
        Citation("a.txt", start, end, text, 0.5)


def test_passage_is_frozen():
    p = Passage("a.txt", 0, 2, "hi")
    with pytest.raises(AttributeError):
        p.start = 1  # type: ignore[misc]


def test_passage_id_is_deterministic_and_content_based():
    a = Passage("a.txt", 0, 5, "hello")
    assert a.id == Passage("a.txt", 0, 5, "hello").id
    assert len(a.id) == 16 and int(a.id, 16) >= 0
    assert a.id != Passage("b.txt", 0, 5, "hello").id
    assert a.id != Passage("a.txt", 1, 6, "hello").id
    assert a.id != Passage("a.txt", 0, 5, "world").id
    # pinned value: ids must not change between runs or Python processes (no hash() salt)
    assert a.id == "cd505dcaade4cbc7"


def test_document_sha256_is_of_utf8_text():
    import hashlib

    d = Document("x.txt", "café\r\n")
    assert d.sha256 == hashlib.sha256("café\r\n".encode()).hexdigest()


def test_answer_to_dict_shape():
    c = Citation("a.txt", 4, 9, "hello", 0.1234567891, duplicates=(("b.txt", 0, 5),))
    h = Hit(Passage("a.txt", 0, 9, "say hello"), 0.987654321)
    ans = Answer("Who?", "hello", (c,), (h,), confidence=0.75, sentence="hello")
    d = ans.to_dict()
    assert set(d) == {"question", "answer", "confidence", "citations", "retrieved", "conflicts", "closest"}
    assert d["conflicts"] == []  # reports that differ, when any do
    assert d["question"] == "Who?" and d["answer"] == "hello" and d["confidence"] == 0.75
    assert d["citations"] == [
        {
            "doc": "a.txt",
            "start": 4,
            "end": 9,
            "text": "hello",
            "score": 0.123457,
            "title": None,
            "date": None,
            "source": None,
            "duplicates": [{"doc": "b.txt", "start": 0, "end": 5}],
        }
    ]
    meta = {"title": None, "date": None, "source": None}  # new keys, the others unchanged
    assert d["retrieved"] == [{"doc": "a.txt", "start": 0, "end": 9, "score": 0.987654, **meta}]
    json.dumps(d)  # plain JSON types only
    assert not ans.abstained


def test_citation_without_duplicates_has_no_duplicates_key():
    assert "duplicates" not in Citation("a.txt", 0, 2, "hi", 1.0).to_dict()


def test_abstained_answer():
    ans = Answer("What is the capital of Australia?", None)
    assert ans.abstained
    d = ans.to_dict()
    assert d["answer"] is None and d["citations"] == [] and d["retrieved"] == []

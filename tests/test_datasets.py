"""Input readers: SQuAD v1.1 JSON and BEIR folders, and telling the kinds apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragdiplo.errors import GoldError
from ragdiplo.eval.datasets import Evidence, InputKind, input_kind, read_beir, read_qrels, read_squad, squad_doc_id

SQUAD_CORPUS = Path(__file__).parents[2] / "shared" / "data" / "squad-dev-open" / "corpus"

P1 = "Port Vesta signed a harbour deal. The deal was worth $40 million! Work starts soon."
P2 = "Kessel rail strike ended. Trains run on Monday."


def squad_fixture(tmp_path: Path) -> Path:
    data = {"version": "1.1", "data": [
        {"title": "Port_(Vesta)", "paragraphs": [
            {"context": P1, "qas": [
                {"id": "q1", "question": "How much was the deal worth?",
                 "answers": [{"answer_start": P1.index("$40"), "text": "$40 million"},
                             {"answer_start": P1.index("40"), "text": "40 million"}]},
            ]},
            {"context": P2, "qas": [
                {"id": "q2", "question": "When do trains run?",
                 "answers": [{"answer_start": P2.index("Monday"), "text": "Monday"}]},
            ]},
        ]},
    ]}  # fmt: skip
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_read_squad(tmp_path):
    docs, gold = read_squad(squad_fixture(tmp_path))
    assert [d.id for d in docs] == ["Port__Vesta_.txt"]
    text = docs[0].text
    assert text == P1 + "\n\n" + P2
    assert [q.id for q in gold] == ["q1", "q2"]
    assert gold[0].answers == ("$40 million", "40 million")
    # evidence: the sentence around the first answer, in the joined text
    (ev,) = gold[0].evidence
    assert text[ev.start : ev.end] == "The deal was worth $40 million!"
    (ev,) = gold[1].evidence
    assert ev == Evidence("Port__Vesta_.txt", len(P1) + 2 + P2.index("Trains"), len(P1) + 2 + len(P2))


def test_read_squad_rejects_a_misplaced_answer(tmp_path):
    path = squad_fixture(tmp_path)
    data = json.loads(path.read_text())
    data["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = 0
    path.write_text(json.dumps(data))
    with pytest.raises(GoldError, match="not at answer_start"):
        read_squad(path)


def test_squad_doc_ids_match_the_corpus_file_names():
    assert squad_doc_id("Super_Bowl_50") == "Super_Bowl_50.txt"
    assert squad_doc_id("Sky_(United_Kingdom)") == "Sky__United_Kingdom_.txt"


@pytest.mark.skipif(not SQUAD_CORPUS.is_dir(), reason="shared SQuAD data not present")
def test_squad_article_converts_to_the_shared_corpus_file(tmp_path):
    """An article rebuilt from the corpus file's paragraphs converts back to the same document."""
    text = (SQUAD_CORPUS / "Normans.txt").read_text(encoding="utf-8")
    paragraphs = text.split("\n\n")
    answer = "Normandy"
    first = paragraphs[0]
    qa = {"id": "n1", "question": "Where?", "answers": [{"answer_start": first.index(answer), "text": answer}]}
    data = {"data": [{"title": "Normans", "paragraphs": [{"context": p, "qas": [qa] if i == 0 else []}
                                                         for i, p in enumerate(paragraphs)]}]}  # fmt: skip
    path = tmp_path / "normans.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    docs, gold = read_squad(path)
    assert docs[0].id == "Normans.txt" and docs[0].text == text
    ev = gold[0].evidence[0]
    assert answer in text[ev.start : ev.end] and text[ev.start : ev.end].endswith(".")


def beir_fixture(tmp_path: Path, split: str = "test") -> Path:
    root = tmp_path / "beir"
    (root / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": "d1", "title": "Harbour deal", "text": "Port Vesta signed a harbour deal worth $40 million."},
        {"_id": "d2", "title": "", "text": "The rail strike in Kessel ended after three weeks."},
        {"_id": "d3", "title": "Drought", "text": "Wheat harvests in the Oran valley fell by 15%."},
        {"_id": "d4", "title": "", "text": "  "},
    ]
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus), encoding="utf-8")
    queries = [{"_id": "1", "text": "harbour deal Port Vesta"}, {"_id": "10", "text": "rail strike Kessel"},
               {"_id": "2", "text": "wheat harvest drought"}, {"_id": "3", "text": "not judged"}]  # fmt: skip
    (root / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in queries), encoding="utf-8")
    (root / "qrels" / f"{split}.tsv").write_bytes(b"query-id\tcorpus-id\tscore\r\n1\td1\t1\r\n10\td2\t2\r\n2\td3\t1\r\n2\td1\t0\r\n")
    return root


def test_read_beir(tmp_path):
    beir = read_beir(beir_fixture(tmp_path))
    ids = [d.id for d in beir.documents]
    assert ids == ["d1", "d2", "d3"]  # the empty document is dropped
    # the title is part of the text, so passages stay exact spans of it
    assert beir.documents[0].text == "Harbour deal\n\nPort Vesta signed a harbour deal worth $40 million."
    assert beir.documents[0].title == "Harbour deal"
    assert beir.documents[1].text.startswith("The rail strike")  # no title: text alone
    assert list(beir.queries) == ["1", "2", "10"]  # judged queries only, numeric order
    assert beir.qrels == {"1": {"d1": 1}, "10": {"d2": 2}, "2": {"d3": 1, "d1": 0}}


def test_read_qrels_rejects_bad_lines(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text("1\td1\n")
    with pytest.raises(GoldError, match=r"q\.tsv:1: expected"):
        read_qrels(path)
    path.write_text("1\td1\thigh\n")
    with pytest.raises(GoldError, match="not an integer"):
        read_qrels(path)


def test_input_kind(tmp_path):
    assert input_kind(beir_fixture(tmp_path)) is InputKind.BEIR
    assert input_kind(squad_fixture(tmp_path)) is InputKind.SQUAD
    gold = tmp_path / "g.jsonl"
    gold.write_text("{}\n")
    assert input_kind(gold) is InputKind.GOLD
    with pytest.raises(GoldError, match=r"missing qrels/dev\.tsv"):
        input_kind(tmp_path / "beir", split="dev")
    with pytest.raises(GoldError, match="no such file"):
        input_kind(tmp_path / "nope.jsonl")
    other = tmp_path / "x.json"
    other.write_text('{"rows": []}')
    with pytest.raises(GoldError, match="SQuAD"):
        input_kind(other)

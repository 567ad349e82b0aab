"""Metrics on hand-computed cases (gold README semantics)."""

from __future__ import annotations

import json
import math

import pytest

from ragdiplo.errors import CorpusError
from ragdiplo.eval.run import (
    Evidence,
    GoldQuestion,
    contains_answer,
    exact_match,
    first_hit_rank,
    normalize_answer,
    overlaps,
    predict,
    read_gold,
    score,
    token_f1,
    write_jsonl,
)
from ragdiplo.ingest.corpus import load_corpus
from ragdiplo.types import Answer, Citation, Hit, Passage


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The U.S. Backstop!", "us backstop"),
        ("“Real progress”", "real progress"),
        ("‘Real’ progress", "real progress"),
        ("An apple—a day", "applea day"),  # SQuAD deletes punctuation
        ("Theory of the   case\n", "theory of case"),
        ("ﬁve  percent", "five percent"),  # NFKC folds the ligature
        ("2.5% of GDP", "25 of gdp"),
        ("", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_normalize_answer_split_punctuation():
    assert normalize_answer("The U.S. Backstop!", split_punctuation=True) == "u s backstop"
    assert normalize_answer("a 30-day truce", split_punctuation=True) == "30 day truce"


@pytest.mark.parametrize(
    ("prediction", "answers"),
    [("the U.S. backstop", ["US backstop"]), ("a 30-day truce", ["30 day"]), ("a 30 day truce", ["30-day"])],
)
def test_contains_answer_either_punctuation_reading(prediction, answers):
    assert contains_answer(prediction, answers)


@pytest.mark.parametrize(
    ("prediction", "answers", "expected"),
    [
        ("spending rose by 15%", ["5%"], False),
        ("spending rose by 5%", ["5%"], True),
        ("spending rose by 5 %", ["5%"], True),
        ("a US backstop to support a reassurance force", ["air logistics", "reassurance force"], True),
        ("a Reassurance-Force", ["reassurance force"], True),
        ("reassurances force", ["reassurance force"], False),
        ("The reassurance force.", ["the reassurance force"], True),
        ("by 2027", ["2027"], True),
        ("by 20270", ["2027"], False),
        (None, ["2027"], False),
        ("", ["2027"], False),
        ("anything", [""], False),  # an empty gold phrase never matches
        ("anything", [], False),
    ],
)
def test_contains_answer(prediction, answers, expected):
    assert contains_answer(prediction, answers) is expected


def test_token_f1_hand_computed():
    # pred "the US backstop" -> [us, backstop]; gold -> [us, backstop, force]
    # common 2: precision 2/2, recall 2/3, F1 = 2 * 1 * 2/3 / (1 + 2/3) = 0.8
    assert token_f1("the US backstop", ["US backstop force"]) == pytest.approx(0.8)
    # best over gold answers: vs "force" P=1/3 R=1 F1=0.5; vs itself 1.0
    assert token_f1("US backstop force", ["force", "US backstop force"]) == pytest.approx(1.0)
    assert token_f1("US backstop force", ["force"]) == pytest.approx(0.5)
    # repeated tokens are clipped: common = min(2, 1) = 1, P=1/2, R=1, F1=2/3
    assert token_f1("force force", ["force"]) == pytest.approx(2 / 3)
    assert token_f1(None, ["force"]) == 0.0
    assert token_f1("nothing shared", ["force"]) == 0.0
    assert token_f1("the", ["a"]) == 0.0  # both normalise to nothing


@pytest.mark.parametrize(
    ("prediction", "answers", "expected"),
    [
        ("The reassurance force.", ["reassurance force"], True),
        ("“Reassurance  force”", ["reassurance force"], True),
        ("reassurance forces", ["reassurance force"], False),
        ("a reassurance force now", ["reassurance force"], False),
        (None, ["reassurance force"], False),
        ("x", [], False),
    ],
)
def test_exact_match(prediction, answers, expected):
    assert exact_match(prediction, answers) is expected


def test_overlaps_min_20_rule():
    long_ev = (Evidence("a.txt", 100, 150),)  # 50 characters: needs 20 shared
    assert overlaps("a.txt", 120, 140, long_ev)  # exactly 20
    assert overlaps("a.txt", 130, 400, long_ev)  # 150 - 130 = 20
    assert not overlaps("a.txt", 131, 400, long_ev)  # 19
    assert not overlaps("a.txt", 0, 119, long_ev)  # 19
    assert not overlaps("b.txt", 100, 150, long_ev)  # other document
    short_ev = (Evidence("a.txt", 10, 15),)  # 5 characters: needs all 5
    assert overlaps("a.txt", 10, 15, short_ev)
    assert overlaps("a.txt", 0, 100, short_ev)
    assert not overlaps("a.txt", 11, 100, short_ev)
    assert not overlaps("a.txt", 0, 10, short_ev)
    assert not overlaps("a.txt", 0, 100, ())
    # any one of several evidence spans suffices
    assert overlaps("b.txt", 0, 30, long_ev + (Evidence("b.txt", 5, 25),))


def test_first_hit_rank():
    ev = (Evidence("a.txt", 100, 150),)
    retrieved = [
        {"doc": "b.txt", "start": 100, "end": 150},
        {"doc": "a.txt", "start": 0, "end": 110},  # 10 shared: too few
        {"doc": "a.txt", "start": 110, "end": 200},  # 40 shared
        {"doc": "a.txt", "start": 100, "end": 150},
    ]
    assert first_hit_rank(retrieved, ev) == 3
    assert first_hit_rank(retrieved[:2], ev) is None
    assert first_hit_rank([], ev) is None


GOLD = [
    GoldQuestion("q1", "What backstop?", ("reassurance force",), (Evidence("a.txt", 100, 150),)),
    GoldQuestion("q2", "By which year?", ("2027",), (Evidence("b.txt", 0, 30),)),
    GoldQuestion("q3", "What is the capital of Australia?", (), ()),
]


def _pred(answer, citations, retrieved, latency):
    return {"answer": answer, "citations": citations, "retrieved": retrieved, "latency_ms": latency}


PREDICTIONS = [
    # q1: answer contains the gold phrase; citation overlaps by 50; first hit at rank 2
    _pred(
        "a US reassurance force",
        [{"doc": "a.txt", "start": 90, "end": 160}],
        [{"doc": "b.txt", "start": 0, "end": 50}, {"doc": "a.txt", "start": 80, "end": 200}],
        10.0,
    ),
    # q2: wrong answer, right citation, hit at rank 1
    _pred("2025", [{"doc": "b.txt", "start": 0, "end": 30}], [{"doc": "b.txt", "start": 0, "end": 100}], 20.0),
    # q3: unanswerable, correctly abstained
    _pred(None, [], [{"doc": "a.txt", "start": 0, "end": 100}], 30.0),
]


def test_score_hand_computed():
    m = score(GOLD, PREDICTIONS)
    expected = {
        "questions": 3,
        "answerable": 2,
        "hit@1": 0.5,  # only q2 at rank 1
        "hit@5": 1.0,
        "mrr@10": (1 / 2 + 1 / 1) / 2,
        "answer_accuracy": 0.5,
        "citation_accuracy": 1.0,
        "correct_with_citation": 0.5,
        "exact_match": 0.0,  # "us reassurance force" != "reassurance force"
        "token_f1": (0.8 + 0.0) / 2,  # q1: P=2/3 R=1 -> 0.8
        "mean_answer_chars": (22 + 4) / 2,
        "unanswerable": 1,
        "abstention_accuracy": 1.0,
        "false_abstention": 0.0,
        "reports_differ": 0.0,  # no prediction lists conflicting reports
        "latency_p50_ms": 20.0,
        "latency_p95_ms": 29.0,  # position 1.9 between 20 and 30
        "citation_precision": (50 / 70 + 1.0) / 2,  # q1 cites 70 chars, 50 of them evidence
        "citation_recall": 1.0,
        # no confidences: input order; right = q1 only -> risks 0/1, 1/2, 2/3
        "aurc": (0 + 1 / 2 + 2 / 3) / 3,
    }
    assert set(m) == set(expected)
    for name, value in expected.items():
        assert m[name] == pytest.approx(value), name


def test_score_abstentions():
    preds = [dict(p) for p in PREDICTIONS]
    preds[1]["answer"] = None  # answerable left unanswered
    preds[2]["answer"] = "Canberra"  # unanswerable answered anyway
    m = score(GOLD, preds)
    assert m["abstention_accuracy"] == 0.0
    assert m["false_abstention"] == 0.5
    assert m["mean_answer_chars"] == 22.0  # only answered, answerable questions count


def test_score_without_unanswerable_questions():
    m = score(GOLD[:2], PREDICTIONS[:2])
    assert math.isnan(m["abstention_accuracy"])
    assert m["unanswerable"] == 0


@pytest.fixture
def docs(tiny_corpus):
    return {d.id: d for d in load_corpus(tiny_corpus)}


def _gold_file(tmp_path, rows) -> str:
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8")
    return str(path)


def test_read_gold_locates_quotes(tmp_path, docs):
    quote = "will take 18 months"
    rows = [
        {"id": "g1", "question": "How long?", "answers": ["18 months"], "evidence": [{"doc": "a.txt", "quote": quote}]},
        {"id": 2, "question": "Aid?", "answers": ["€2 million"], "evidence": [{"doc": "sub/c.txt", "quote": "€2 million"}]},
        {"id": "g3", "question": "Capital of Australia?", "answers": [], "evidence": []},
    ]
    gold = read_gold(_gold_file(tmp_path, rows), docs)
    assert [g.id for g in gold] == ["g1", "2", "g3"]
    start = docs["a.txt"].text.index(quote)
    assert gold[0].evidence == (Evidence("a.txt", start, start + len(quote)),)
    ev = gold[1].evidence[0]
    assert docs["sub/c.txt"].text[ev.start : ev.end] == "€2 million"
    assert gold[0].answers == ("18 months",) and gold[0].answerable and not gold[2].answerable


@pytest.mark.parametrize(
    "evidence",
    [{"doc": "a.txt", "quote": "a sentence that is not there"}, {"doc": "missing.txt", "quote": "Harbour"}],
)
def test_read_gold_quote_not_found(tmp_path, docs, evidence):
    rows = [
        {"id": "ok", "question": "Q?", "answers": ["x"], "evidence": [{"doc": "a.txt", "quote": "Harbour"}]},
        {"id": "bad", "question": "Q?", "answers": ["x"], "evidence": [evidence]},
    ]
    with pytest.raises(CorpusError, match=r"gold\.jsonl:2: evidence quote not found"):
        read_gold(_gold_file(tmp_path, rows), docs)


def test_predict_and_write_jsonl(tmp_path):
    cit = Citation("a.txt", 0, 5, "Hello", 0.9, duplicates=(("b.txt", 0, 5),))
    hit = Hit(Passage("a.txt", 0, 11, "Hello world"), 0.5)

    def ask(q: str) -> Answer:
        return Answer(q, "Hello", (cit,), (hit,), 0.7) if "known" in q else Answer(q, None)

    rows = predict(GOLD[:1] + [GoldQuestion("q9", "known?", ("hello",), ())], lambda questions: map(ask, questions))
    assert [r["id"] for r in rows] == ["q1", "q9"]
    assert rows[0]["answer"] is None and rows[0]["citations"] == []
    meta = {"title": None, "date": None, "source": None}  # new keys only
    assert rows[1]["citations"] == [{"doc": "a.txt", "start": 0, "end": 5, "text": "Hello", "score": 0.9, **meta}]
    assert rows[1]["retrieved"] == [{"doc": "a.txt", "start": 0, "end": 11, "score": 0.5, **meta}]
    assert all(r["latency_ms"] >= 0 for r in rows)
    out = tmp_path / "p.jsonl"
    write_jsonl(rows, out)
    assert [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] == rows

"""A withheld answer still helps (and answer spans never cut a short quote): it lists the sentences closest to the
question (one per document, exact spans), in Python, the CLI, ``--json`` and
the REPL, and says that none of them answers; a filter that leaves nothing
to answer from is named in the reason."""

from __future__ import annotations

import io
import json

import pytest
from conftest import FakeEmbedder
from hypothesis import given
from hypothesis import strategies as st

import ragdiplo.answer.decision as decision
import ragdiplo.answer.rules as rules
import ragdiplo.cli.main as cli
import ragdiplo.cli.repl as repl
from ragdiplo.answer.contexts import whole_quotes
from ragdiplo.answer.settings import QAConfig
from ragdiplo.qa import QA
from ragdiplo.types import Where

QUESTION = "How long will the dredging work take?"


@pytest.fixture
def never_sure(monkeypatch):
    """Every answer's P(right) is 0, so every answer is withheld whatever the model says."""
    monkeypatch.setattr(rules, "probability", lambda features, calibration: 0.0)  # the rules
    monkeypatch.setattr(decision, "calibrated", lambda features, calibration: 0.0)  # the reader


@pytest.fixture
def qa(tiny_corpus) -> QA:
    return QA.build(tiny_corpus, None, embedder=FakeEmbedder())


def _check_closest(closest, documents) -> None:
    assert closest, "a withheld answer lists the closest sentences"
    assert len(closest) <= QAConfig().closest_passages
    assert len({c.doc_id for c in closest}) == len(closest), "one sentence per document"
    for c in closest:
        assert documents[c.doc_id].text[c.start : c.end] == c.text


def test_a_withheld_answer_lists_the_closest_sentences(qa, never_sure):
    answer = qa.ask(QUESTION)
    assert answer.text is None and answer.withheld
    _check_closest(answer.closest, {d.id: d for d in qa.index.documents})
    assert "dredging" in answer.closest[0].text  # the best one first
    assert answer.closest[0].title == "Harbour deal signed in Port Vesta"  # with its metadata
    assert qa.ask(QUESTION).to_dict()["closest"][0]["text"] == answer.closest[0].text


def test_an_answer_given_lists_no_closest_sentences(qa):
    answer = qa.ask(QUESTION)
    assert answer.text is not None and answer.closest == ()
    assert answer.to_dict()["closest"] == []


def test_closest_passages_zero_lists_none(tiny_corpus, never_sure):
    qa = QA.build(tiny_corpus, None, embedder=FakeEmbedder(), config=QAConfig(closest_passages=0))
    assert qa.ask(QUESTION).closest == ()


def test_a_filter_that_leaves_nothing_to_answer_from_is_named(qa, never_sure):
    answer = qa.ask(QUESTION, where=Where(source="Nobody's Gazette"))
    assert answer.text is None
    assert "filter" in answer.withheld and "source Nobody's Gazette" in answer.withheld
    filtered = qa.ask(QUESTION, where=Where(tag="nothing-has-this-tag"))
    assert "tag nothing-has-this-tag" in filtered.withheld


def test_a_withheld_answer_within_a_filter_names_the_filter(tmp_path, never_sure):
    corpus = tmp_path / "news.jsonl"
    rows = [{"id": "a", "text": "The dredging work will take 18 months, the mayor said.", "source": "Herald"},
            {"id": "b", "text": "The rail strike ended after wages rose by five percent.", "source": "Gazette"}]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    qa = QA.build(corpus, None, embedder=FakeEmbedder())
    answer = qa.ask(QUESTION, where=Where(source="Gazette"))
    assert answer.text is None
    assert "the filter lets through (source Gazette)" in answer.withheld
    assert [c.doc_id for c in answer.closest] == ["b"]


@pytest.fixture
def index_dir(tiny_corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: FakeEmbedder())
    out = tmp_path / "idx"
    assert cli.main(["index", str(tiny_corpus), "--index", str(out), "-q"]) == 0
    return out


def test_the_cli_prints_the_closest_sentences_of_a_withheld_answer(index_dir, tiny_corpus, capsys, never_sure):
    capsys.readouterr()
    assert cli.main(["ask", QUESTION, "--index", str(index_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Answer: (withheld: ")
    assert "Closest passages (none of them answers the question):" in out
    assert "[1] Harbour deal signed in Port Vesta (a.txt:" in out
    assert "Confidence" not in out


def test_ask_json_carries_the_closest_sentences(index_dir, tiny_corpus, capsys, never_sure):
    capsys.readouterr()
    assert cli.main(["ask", QUESTION, "--index", str(index_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["answer"] is None and out["withheld"]
    assert out["closest"] and out["closest"][0]["doc"] == "a.txt"
    for c in out["closest"]:
        raw = (tiny_corpus / c["doc"]).read_bytes().decode("utf-8")
        assert raw[c["start"] : c["end"]] == c["text"]


def test_the_repl_prints_the_closest_sentences_of_a_withheld_answer(qa, never_sure):
    out = io.StringIO()
    assert repl.run(qa, stdin=io.StringIO(QUESTION + "\n"), stdout=out) == 0
    text = out.getvalue()
    assert "(withheld: " in text and "Closest passages (none of them answers the question):" in text
    assert "[1] " in text and "dredging" in text


# -- spans never cut a short quote -----------------------------------------------------------------

BACKSTOP = "Starmer is also pushing for a US “backstop” to support a potential reassurance force."


def test_a_span_stopping_before_a_quoted_word_takes_the_quote():
    s = BACKSTOP.index("a US")
    got = whole_quotes(BACKSTOP, s, s + len("a US"))
    assert BACKSTOP[got[0] : got[1]] == "a US “backstop”"


def test_a_span_holding_half_a_quote_takes_the_rest():
    s = BACKSTOP.index("US “back")
    got = whole_quotes(BACKSTOP, s, s + len("US “back"))
    assert BACKSTOP[got[0] : got[1]] == "US “backstop”"
    s = BACKSTOP.index("backstop”")
    got = whole_quotes(BACKSTOP, s, s + len("backstop” to"))
    assert BACKSTOP[got[0] : got[1]] == "“backstop” to"


def test_spans_without_quotes_and_long_quoted_speech_are_left_alone():
    s = BACKSTOP.index("reassurance force")
    assert whole_quotes(BACKSTOP, s, s + len("reassurance force")) == (s, s + len("reassurance force"))
    speech = "He said “" + "word " * 20 + "” on Monday."
    assert whole_quotes(speech, 0, 7) == (0, 7)


@given(st.text(alphabet="ab “”‘’\"«». \n", max_size=40), st.data())
def test_a_grown_span_holds_the_original_and_stays_in_the_text(text, data):
    s = data.draw(st.integers(0, len(text)))
    e = data.draw(st.integers(s, len(text)))
    if s == e:
        return
    a, b = whole_quotes(text, s, e)
    assert 0 <= a <= s < e <= b <= len(text)

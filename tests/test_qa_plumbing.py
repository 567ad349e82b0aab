"""The QA handle end to end with the fake embedder: exact citations, answers
taken from them, and questions refused with QuestionError."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ragdiplo.answer.confidence import Calibration
from ragdiplo.answer.retrieval import Fusion, RetrievalConfig
from ragdiplo.answer.settings import QAConfig
from ragdiplo.errors import QuestionError
from ragdiplo.qa import QA
from ragdiplo.types import Answer

QUESTIONS = [
    "How long will the dredging work take?",
    "When will trains run again in Kessel?",
    "How much emergency aid did the regional minister promise?",
    "By how much did wages rise in the Kessel rail strike?",
    "What did wheat harvests fall by in the Oran valley this year?",
    "What is the capital of Australia?",
    "  Who signed the harbour deal?  ",
]


@pytest.fixture
def qa(tiny_corpus, fake_embedder):
    return QA.build(tiny_corpus, embedder=fake_embedder)


def _raw(corpus, doc_id: str) -> str:
    return (corpus / doc_id).read_bytes().decode("utf-8")


def check_answer(ans: Answer, corpus, k: int = 10) -> None:
    assert isinstance(ans, Answer)
    assert len(ans.retrieved) <= k
    for h in ans.retrieved:
        assert _raw(corpus, h.passage.doc_id)[h.passage.start : h.passage.end] == h.passage.text
    assert 0.0 <= ans.confidence <= 1.0
    if ans.text is None:
        assert ans.citations == ()
        return
    assert ans.citations
    for c in ans.citations:
        assert _raw(corpus, c.doc_id)[c.start : c.end] == c.text
        for d, s, e in c.duplicates:
            assert 0 <= s < e <= len(_raw(corpus, d))
    assert ans.text and ans.text in ans.citations[0].text
    assert ans.sentence == ans.citations[0].text


@pytest.mark.parametrize("question", QUESTIONS)
def test_answers_rest_on_exact_citations(qa, tiny_corpus, question):
    check_answer(qa.ask(question), tiny_corpus)


@pytest.mark.parametrize("fusion", list(Fusion))
def test_every_fusion_answers(tiny_corpus, fake_embedder, fusion):
    from ragdiplo.answer.settings import QAConfig

    qa = QA.build(tiny_corpus, embedder=fake_embedder, config=QAConfig(retrieval=RetrievalConfig(fusion=fusion)))
    for q in QUESTIONS:
        check_answer(qa.ask(q), tiny_corpus)


def test_a_well_supported_question_is_answered_from_the_right_document(qa, tiny_corpus):
    ans = qa.ask("How long will the dredging work take?")
    assert ans.text is not None
    assert ans.citations[0].doc_id == "a.txt"
    assert "18 months" in ans.citations[0].text


def test_saved_and_loaded_qa_answer_alike(tiny_corpus, fake_embedder, tmp_path):
    built = QA.build(tiny_corpus, tmp_path / "idx", embedder=fake_embedder)
    loaded = QA.load(tmp_path / "idx", embedder=fake_embedder)
    for q in QUESTIONS:
        a, b = built.ask(q), loaded.ask(q)
        assert a.to_dict() == b.to_dict()


@pytest.mark.parametrize(
    "question",
    ["", "   ", "\n\t", "?", "?!...", "¿¡—“”", "x" * 100_000, "What " * 20_000],
    ids=["empty", "spaces", "newline-tab", "qmark", "punct", "unicode-punct", "100k-chars", "100k-words"],
)
def test_unusable_questions(qa, question):
    with pytest.raises(QuestionError):
        qa.ask(question)


def test_question_error_is_a_value_error(qa):
    with pytest.raises(ValueError):
        qa.ask("")


@pytest.mark.parametrize("k", [0, -1])
def test_bad_k(qa, k):
    with pytest.raises(QuestionError, match="k"):
        qa.ask("How long will the dredging work take?", k=k)


def test_k_larger_than_the_index_is_clamped_with_a_warning(qa, tiny_corpus):
    n = len(qa.index)
    with pytest.warns(UserWarning, match=rf"k is 10000, but the index has only {n} passage\(s\): using k={n}"):
        ans = qa.ask("How long will the dredging work take?", k=10_000)
    assert 0 < len(ans.retrieved) <= n
    check_answer(ans, tiny_corpus, k=10_000)


def test_default_k_shrinks_quietly_to_a_small_index(qa, recwarn):
    assert len(qa.index) < 10
    qa.ask("How long will the dredging work take?")
    assert not recwarn.list


def test_k_must_be_an_integer(qa):
    with pytest.raises(TypeError, match="k must be an int, not float"):
        qa.ask("How long will the dredging work take?", k=2.5)  # type: ignore[arg-type]


def test_k_one(qa, tiny_corpus):
    ans = qa.ask("How long will the dredging work take?", k=1)
    assert len(ans.retrieved) == 1
    check_answer(ans, tiny_corpus, k=1)


@pytest.mark.parametrize("question", [None, 42, b"bytes?"])
def test_non_string_question_is_a_type_error(qa, question):
    with pytest.raises(TypeError, match=f"the question must be a str, not {type(question).__name__}"):
        qa.ask(question)  # type: ignore[arg-type]


def test_repr_of_qa_and_answer_is_one_short_line(qa):
    shown = repr(qa)
    assert shown.startswith(f"QA(3 documents, {len(qa.index)} passages, model='fake-hash-64', embedder=FakeEmbedder")
    assert "\n" not in shown and len(shown) < 150
    ans = qa.ask("How long will the dredging work take?")
    assert repr(ans) == (f"Answer(question='How long will the dredging work take?', text={ans.text!r}, "
                         f"confidence={ans.confidence:.2f}, citations={len(ans.citations)}, retrieved={len(ans.retrieved)})")
    long = qa.ask("How long will the dredging work take? " + "Please say. " * 20)
    assert "\n" not in repr(long) and len(repr(long)) < 250
    assert repr(long).startswith("Answer(question='How long will the dredging work take? Please say. Please sa…', ")


def test_identical_documents_are_cited_once_naming_both_ids(tiny_corpus, fake_embedder):
    from ragdiplo.answer.confidence import Calibration
    from ragdiplo.answer.settings import QAConfig

    (tiny_corpus / "copy.txt").write_bytes((tiny_corpus / "sub" / "c.txt").read_bytes())
    never_abstain = QAConfig(min_dense=-1.0, calibration=Calibration(threshold=0.0))
    qa = QA.build(tiny_corpus, embedder=fake_embedder, config=never_abstain)
    answer = qa.ask("How much emergency aid did the regional minister promise?")
    cited = answer.citations[0]
    assert cited.doc_id == "copy.txt"  # the stored one of the two identical texts
    assert ("sub/c.txt", cited.start, cited.end) in cited.duplicates
    assert [c.doc_id for c in answer.citations].count("sub/c.txt") == 0


def test_near_identical_sentences_are_one_citation_down_to_citation_jaccard(tmp_path, fake_embedder):
    root = tmp_path / "news"
    root.mkdir()
    said = ("The harbour treaty of Port Vesta will be ratified in 2031 after long talks between the city council, "
            "the port authority and the shipping firms, {} said.\n")  # fmt: skip
    (root / "a.txt").write_text(said.format("officials"), "utf-8")
    (root / "b.txt").write_text(said.format("reporters"), "utf-8")
    rules = QAConfig(reader=None, calibration=Calibration(threshold=0.0), min_dense=-1.0, cite_margin=1.0)
    qa = QA.build(root, embedder=fake_embedder, config=rules)
    question = "In which year will the harbour treaty of Port Vesta be ratified?"
    (one,) = qa.ask(question).citations  # one word in sixteen differs: the same quote
    assert {one.doc_id, *(d for d, _, _ in one.duplicates)} == {"a.txt", "b.txt"}
    exact = QA(qa.index, fake_embedder, replace(rules, citation_jaccard=1.0)).ask(question)
    assert sorted(c.doc_id for c in exact.citations) == ["a.txt", "b.txt"]
    assert all(c.duplicates == () for c in exact.citations)


def test_a_short_answer_cites_the_other_articles_that_state_it(tmp_path, fake_embedder):
    root = tmp_path / "news"
    root.mkdir()
    (root / "a.txt").write_text("The harbour treaty of Port Vesta will be ratified in 2031, officials said.\n", "utf-8")
    (root / "b.txt").write_text("Port Vesta expects its harbour treaty ratified by 2031.\nThe mayor was pleased.\n", "utf-8")
    (root / "c.txt").write_text("The harbour of Port Vesta was dredged in 1998 by a Dutch firm.\n", "utf-8")
    qa = QA.build(root, embedder=fake_embedder, config=QAConfig(calibration=Calibration(threshold=0.0), min_dense=-1.0))
    ans = qa.ask("In which year will the harbour treaty of Port Vesta be ratified?")
    check_answer(ans, root)
    assert ans.text == "2031"
    assert {c.doc_id for c in ans.citations} == {"a.txt", "b.txt"}
    assert all("2031" in c.text for c in ans.citations)


def test_a_question_with_undecodable_bytes_is_a_question_error():
    from ragdiplo.answer.question import check_question
    from ragdiplo.errors import QuestionError

    with pytest.raises(QuestionError, match="undecodable"):
        check_question(b"Who \xff signed?".decode("utf-8", "surrogateescape"))


@pytest.mark.parametrize(
    "settings",
    [{"max_citations": 0}, {"read_passages": 0}, {"reader": "bert"}, {"reader_spans": 0}, {"citation_jaccard": 0},
     {"citation_jaccard": 1.5}],  # fmt: skip
)
def test_answer_settings_out_of_range_are_errors(settings):
    from ragdiplo.errors import ConfigError

    with pytest.raises(ConfigError):
        QAConfig(**settings)


def test_ask_many_answers_as_ask_does_embedding_the_questions_together(tiny_corpus, fake_embedder, monkeypatch):
    from ragdiplo import qa as qa_module
    from ragdiplo.types import Where

    calls: list[list[str]] = []
    embed = type(fake_embedder).embed

    def counted(self, texts, *, show_progress=False):
        calls.append(list(texts))
        return embed(self, texts)

    qa = QA.build(tiny_corpus, embedder=fake_embedder)
    monkeypatch.setattr(type(fake_embedder), "embed", counted)
    monkeypatch.setattr(qa_module, "QUESTION_BATCH", 3)
    questions = [*QUESTIONS, QUESTIONS[-1].strip()]  # the same question twice in the last batch
    for k, where in [(None, None), (2, None), (None, Where(source="nowhere"))]:
        calls.clear()
        many = qa.ask_many(questions, k, where=where)
        assert calls == [questions[:3], questions[3:6], [questions[-1]]]  # 3 a call; a repeat is embedded once
        assert many == [qa.ask(q, k, where=where) for q in questions]
    assert qa.ask_many([]) == []
    assert list(qa.ask_iter(q for q in QUESTIONS[:2])) == [qa.ask(q) for q in QUESTIONS[:2]]


def test_ask_many_checks_every_question_first(qa, recwarn):
    with pytest.raises(TypeError, match="list of str"):
        qa.ask_many("How long will the dredging work take?")
    with pytest.raises(QuestionError):
        qa.ask_iter(["How long will the dredging work take?", ""])  # refused before anything is answered
    with pytest.raises(QuestionError, match="k"):
        qa.ask_many(["How long will the dredging work take?"], k=0)
    with pytest.warns(UserWarning, match="k is 10000") as caught:
        qa.ask_many(["How long will the dredging work take?"], k=10_000)
    assert caught[0].filename == __file__  # the warning names the caller's line

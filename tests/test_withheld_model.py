"""The shipped reader and its fitted confidence on near-miss questions, with
the real embedder (integration): a question that swaps the roles of the
names its sentence holds is withheld, while the question the sentence
answers is answered; a filter that excludes the document holding the answer
gives a withheld answer naming the filter, never an answer from whatever
passage is left."""

from __future__ import annotations

import json

import pytest

from ragdiplo.qa import QA
from ragdiplo.types import Where

pytestmark = pytest.mark.integration

ROWS = [
    {"id": "envoy", "date": "2025-02-26", "source": "Herald",
     "text": "Peter Mandelson, Britain's ambassador to the US, said the two countries should stand shoulder to "
             "shoulder at this significant moment. He spoke before the prime minister's visit to Washington."},
    {"id": "truce", "date": "2025-03-02", "source": "Gazette",
     "text": "Macron and Starmer proposed a 30-day partial truce in the air, at sea and on energy infrastructure. "
             "Details of the plan are yet to be agreed with Kyiv."},
    {"id": "budget", "date": "2025-02-25", "source": "Herald",
     "text": "Britain will raise defence spending to 2.5% of GDP by 2027, the prime minister told parliament. "
             "Two ministers said the rise would be paid for by cutting the aid budget."},
]


@pytest.fixture(scope="module")
def qa(tmp_path_factory, real_embedder) -> QA:
    corpus = tmp_path_factory.mktemp("news") / "news.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return QA.build(corpus, None, embedder=real_embedder)


def test_the_question_the_sentence_answers_is_answered(qa):
    answer = qa.ask("Who is Britain's ambassador to the US?")
    assert answer.text is not None and "Mandelson" in answer.text
    assert answer.citations[0].doc_id == "envoy"


@pytest.mark.xfail(strict=True, reason="known gap: the shipped reader gives 'no answer' to 2 % of held-out role "
                   "swaps given their paragraph, and its confidence stays above the threshold (docs/results.md)")
def test_a_role_swapped_question_is_withheld(qa):
    answer = qa.ask("Who is the US ambassador to Britain?")
    assert answer.text is None, f"answered {answer.text!r} ({answer.confidence:.2f})"
    assert answer.closest and answer.closest[0].doc_id == "envoy"


def test_a_filter_excluding_the_answering_document_withholds_and_says_so(qa):
    question = "How long was the partial truce proposed by Macron and Starmer?"
    assert qa.ask(question).text == "30-day"
    answer = qa.ask(question, where=Where(source="Herald"))
    assert answer.text is None, f"answered {answer.text!r} from what the filter left"
    assert "filter" in answer.withheld and "source Herald" in answer.withheld
    assert {c.doc_id for c in answer.closest} <= {"envoy", "budget"}

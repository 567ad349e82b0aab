"""The reader plumbing: spans located in the text they came from, offsets mapped
back to documents, batching, abstention and the fallback for answers that are
not in the text. The transformers model is tiny and randomly initialised, built
here: it checks the mapping, not answer quality."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from conftest import TINY_DOCS

from ragdiplo.answer.confidence import Calibration
from ragdiplo.answer.readers import Reader, ReaderSpan, locate
from ragdiplo.answer.readers.transformers import TransformersReader
from ragdiplo.answer.settings import QAConfig
from ragdiplo.qa import QA

NEVER_ABSTAIN = QAConfig(min_dense=-1.0, calibration=Calibration(threshold=0.0), reader=None)
QUESTION = "How much emergency aid did the regional minister promise?"


def test_locate_trusts_offsets_only_when_they_hold_the_text():
    context = "Aid of €2 million was promised."
    assert locate(ReaderSpan("€2 million", 1.0, 7, 17), context) == (7, 17)
    assert locate(ReaderSpan("€2 million", 1.0, 0, 10), context) == (7, 17)


def test_locate_ignores_case_and_spacing_but_not_words():
    context = "Aid of €2   million was\npromised."
    assert locate(ReaderSpan("€2 MILLION", 1.0), context) == (7, 19)
    assert locate(ReaderSpan("million was promised", 1.0), context) == (12, 32)
    assert locate(ReaderSpan("€3 million", 1.0), context) is None
    assert locate(ReaderSpan("   ", 1.0), context) is None


@pytest.fixture(scope="module")
def tiny_qa_model(tmp_path_factory):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    words = sorted({w for text in TINY_DOCS.values() for w in re.findall(r"\w+|[^\w\s]", text.lower())})
    words += sorted(set(re.findall(r"\w+|[^\w\s]", QUESTION.lower())) - set(words))
    vocab = tmp_path_factory.mktemp("reader") / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n", encoding="utf-8")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    config = transformers.BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    return transformers.BertForQuestionAnswering(config), tokenizer


def test_transformers_reader_spans_are_exact_slices(tiny_qa_model):
    reader = TransformersReader(*tiny_qa_model, batch_size=2)
    assert isinstance(reader, Reader)
    contexts = list(TINY_DOCS.values())
    spans = reader.read(QUESTION, contexts)
    assert len(spans) == len(contexts)
    for span, context in zip(spans, contexts):
        if span is not None:
            assert context[span.start : span.end] == span.text
            assert span.text.strip()


def test_batching_does_not_change_what_is_read(tiny_qa_model):
    contexts = [*TINY_DOCS.values(), "A short one."]
    one_by_one = TransformersReader(*tiny_qa_model, batch_size=1).read(QUESTION, contexts)
    together = TransformersReader(*tiny_qa_model, batch_size=len(contexts)).read(QUESTION, contexts)
    assert [(s.start, s.end) if s else None for s in one_by_one] == [(s.start, s.end) if s else None for s in together]
    for a, b in zip(one_by_one, together):
        if a is not None:
            assert b.score == pytest.approx(a.score, abs=1e-4)


def test_answer_from_reader_is_cited_by_the_sentences_it_stands_in(tiny_qa_model, tiny_corpus, fake_embedder):
    qa = QA.build(tiny_corpus, embedder=fake_embedder, config=NEVER_ABSTAIN, reader=TransformersReader(*tiny_qa_model))
    answer = qa.ask(QUESTION)
    assert answer.text is not None
    cited = answer.citations[0]
    doc = qa.index.document(cited.doc_id)
    assert doc.text[cited.start : cited.end] == cited.text
    assert answer.text in cited.text
    sentences = [doc.text[s:e] for d, s, e in qa.index.sentence_rows if qa.index.documents[d].id == cited.doc_id]
    assert cited.text.startswith(tuple(sentences)) and cited.text.endswith(tuple(sentences))


def test_reader_that_finds_nothing_makes_the_answer_abstain(tiny_qa_model, tiny_corpus, fake_embedder):
    import torch

    model, tokenizer = tiny_qa_model
    silent = type(model)(model.config)
    silent.load_state_dict(model.state_dict())
    with torch.no_grad():
        silent.qa_outputs.weight.zero_()
        silent.qa_outputs.bias.zero_()  # every span scores as "no answer" does
    qa = QA.build(tiny_corpus, embedder=fake_embedder, config=NEVER_ABSTAIN, reader=TransformersReader(silent, tokenizer))
    answer = qa.ask(QUESTION)
    assert answer.text is None and answer.citations == ()


class _FixedReader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.calls: list[int] = []

    def read(self, question: str, contexts: Sequence[str]) -> list[ReaderSpan | None]:
        self.calls.append(len(contexts))
        return [ReaderSpan(self.text, 1.0) for _ in contexts]


def test_generated_answer_not_in_the_text_falls_back_to_the_extracted_one(tiny_corpus, fake_embedder):
    plain = QA.build(tiny_corpus, embedder=fake_embedder, config=NEVER_ABSTAIN)
    reader = _FixedReader("a generous sum the minister made up")
    with_reader = QA(plain.index, fake_embedder, NEVER_ABSTAIN, reader=reader)
    assert with_reader.ask(QUESTION) == plain.ask(QUESTION)
    assert reader.calls == [min(NEVER_ABSTAIN.read_passages, len(plain.index))]


def test_generated_answer_found_in_the_text_is_located_there(tiny_corpus, fake_embedder):
    qa = QA.build(tiny_corpus, embedder=fake_embedder, config=NEVER_ABSTAIN, reader=_FixedReader("EMERGENCY AID of €2 million"))
    answer = qa.ask(QUESTION)
    assert answer.text == "emergency aid of €2 million"
    assert answer.citations[0].doc_id == "sub/c.txt"
    assert answer.text in answer.citations[0].text

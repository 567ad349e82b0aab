"""The one reader protocol (``read_nbest``): spans located in the text they came
from, offsets mapped back to documents, batching, the no-answer score and the
decision it feeds, and the fallback for answers that are not in the text. The
transformers model is tiny and randomly initialised, built here: it checks the
mapping, not answer quality."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from conftest import TINY_DOCS

from ragdiplo.answer.confidence import Calibration, ReaderCalibration
from ragdiplo.answer.readers import Reader, ReaderSpan, locate
from ragdiplo.answer.readers.transformers import TransformersReader
from ragdiplo.answer.settings import QAConfig
from ragdiplo.qa import QA

# the rules when no reader is given; any reader's answer is given whatever its confidence
NEVER_ABSTAIN = QAConfig(min_dense=-1.0, calibration=Calibration(threshold=0.0),
                         reader_calibration=ReaderCalibration(threshold=0.0), reader=None)  # fmt: skip
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


def test_the_margin_is_the_score_over_no_answer_or_the_score_without_one():
    assert ReaderSpan("€2 million", 2.0, no_answer=3.5).margin == -1.5
    assert ReaderSpan("€2 million", 2.0).margin == 2.0


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


def _cls_score(model, tokenizer, context: str) -> float:
    """The model's "no answer" score for one context read alone: the [CLS] position's."""
    import torch

    enc = tokenizer(QUESTION, context, truncation="only_second", max_length=384, return_tensors="pt")
    with torch.inference_mode():
        out = model(**enc)
    return float(out.start_logits[0, 0] + out.end_logits[0, 0])


def test_transformers_reader_gives_n_best_exact_spans_with_the_no_answer_score(tiny_qa_model):
    reader = TransformersReader(*tiny_qa_model, batch_size=2)
    assert isinstance(reader, Reader)
    contexts = list(TINY_DOCS.values())
    nbest = reader.read_nbest(QUESTION, contexts, 3)
    assert len(nbest) == len(contexts)
    for spans, context in zip(nbest, contexts):
        assert len(spans) == 3
        assert len({(s.start, s.end) for s in spans}) == 3  # distinct
        assert [s.score for s in spans] == sorted((s.score for s in spans), reverse=True)
        for span in spans:
            assert context[span.start : span.end] == span.text and span.text.strip()
            assert span.no_answer == pytest.approx(_cls_score(*tiny_qa_model, context), abs=1e-4)


def test_a_model_that_cannot_tell_spans_apart_scores_them_all_as_no_answer(tiny_qa_model):
    import torch

    model, tokenizer = tiny_qa_model
    silent = type(model)(model.config)
    silent.load_state_dict(model.state_dict())
    with torch.no_grad():
        silent.qa_outputs.weight.zero_()
        silent.qa_outputs.bias.zero_()  # every span scores as "no answer" does
    nbest = TransformersReader(silent, tokenizer).read_nbest(QUESTION, list(TINY_DOCS.values()), 2)
    assert all(len(spans) == 2 for spans in nbest)
    assert all(span.margin == 0.0 for spans in nbest for span in spans)


def test_batching_does_not_change_what_is_read(tiny_qa_model):
    contexts = [*TINY_DOCS.values(), "A short one."]
    one_by_one = TransformersReader(*tiny_qa_model, batch_size=1).read_nbest(QUESTION, contexts, 2)
    together = TransformersReader(*tiny_qa_model, batch_size=len(contexts)).read_nbest(QUESTION, contexts, 2)
    assert [[(s.start, s.end) for s in spans] for spans in one_by_one] == [
        [(s.start, s.end) for s in spans] for spans in together
    ]
    for a, b in zip(sum(one_by_one, []), sum(together, [])):
        assert b.score == pytest.approx(a.score, abs=1e-4)
        assert b.no_answer == pytest.approx(a.no_answer, abs=1e-4)


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


class _FixedReader:
    """A user's own reader: the same words read from every context, with a
    no-answer score or none."""

    def __init__(self, text: str, score: float = 1.0, no_answer: float | None = None) -> None:
        self.text = text
        self.score = score
        self.no_answer = no_answer
        self.calls: list[tuple[int, int]] = []

    def read_nbest(self, question: str, contexts: Sequence[str], n: int) -> list[list[ReaderSpan]]:
        self.calls.append((len(contexts), n))
        return [[ReaderSpan(self.text, self.score, no_answer=self.no_answer)] for _ in contexts]


def test_a_reader_whose_no_answer_wins_by_far_makes_the_answer_abstain(tiny_corpus, fake_embedder):
    config = QAConfig(min_dense=-1.0, calibration=Calibration(threshold=0.0), reader=None)  # the reader's calibration
    qa = QA.build(tiny_corpus, embedder=fake_embedder, config=config, reader=_FixedReader("€2 million", 0.0, 30.0))
    answer = qa.ask(QUESTION)
    assert answer.text is None and answer.citations == ()
    assert answer.confidence < config.reader_calibration.threshold
    assert answer.closest  # what was found is shown


def test_generated_answer_not_in_the_text_falls_back_to_the_extracted_one(tiny_corpus, fake_embedder):
    plain = QA.build(tiny_corpus, embedder=fake_embedder, config=NEVER_ABSTAIN)
    reader = _FixedReader("a generous sum the minister made up")
    with_reader = QA(plain.index, fake_embedder, NEVER_ABSTAIN, reader=reader)
    assert with_reader.ask(QUESTION) == plain.ask(QUESTION)
    ((contexts, n),) = reader.calls  # read once: the best sentences with their neighbours
    assert 1 <= contexts <= NEVER_ABSTAIN.reader_sentences and n == NEVER_ABSTAIN.reader_spans


def test_generated_answer_found_in_the_text_is_located_there(tiny_corpus, fake_embedder):
    qa = QA.build(tiny_corpus, embedder=fake_embedder, config=NEVER_ABSTAIN, reader=_FixedReader("EMERGENCY AID of €2 million"))
    answer = qa.ask(QUESTION)
    assert answer.text == "emergency aid of €2 million"
    assert answer.citations[0].doc_id == "sub/c.txt"
    assert answer.text in answer.citations[0].text


def test_a_reader_without_read_nbest_is_refused_before_anything_is_built(tiny_corpus, fake_embedder, tmp_path):
    class OldReader:
        def read(self, question: str, contexts: Sequence[str]) -> list[ReaderSpan | None]:
            return [None for _ in contexts]

    with pytest.raises(TypeError, match="read_nbest"):
        QA.build(tiny_corpus, tmp_path / "index", embedder=fake_embedder, reader=OldReader())
    assert not (tmp_path / "index").exists()

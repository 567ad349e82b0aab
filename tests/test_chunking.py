"""Chunking promises: exact offsets, a token budget, full coverage, order."""

from __future__ import annotations

import pytest
from conftest import FakeEmbedder
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ragdiplo.ingest.chunking import ChunkerConfig, chunk_document, segment_document
from ragdiplo.ingest.sentences import sentence_spans
from ragdiplo.types import Document

TOK = FakeEmbedder()
SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]

WORDS = st.sampled_from(
    [
        "the", "Prime", "Minister", "said", "US", "backstop", "5%", "$40m", "2027", "Mr.", "U.S.", "e.g.",
        "Starmer’s", "“real", "progress”", "don't", "Kyiv", "—", "-", "(", ")", "3.5", "...",
        "Привет", "мир", "Україна", "你好", "世界", "新闻报道", "مرحبا", "بالعالم", "😀", "🇬🇧", "naïve", "e\u0301",
    ]
)
ENDS = st.sampled_from([".", "!", "?", "", "", "", ":", ";", ",", "。", "…", ".”", "?’"])
SEPS = st.sampled_from([" ", " ", " ", "\u00a0", "\n", "\r\n", "\n\n", "\t", "  ", "\n \n", "\r\n\r\n"])


@st.composite
def news_text(draw) -> str:
    parts: list[str] = []
    for _ in range(draw(st.integers(0, 40))):
        words = draw(st.lists(WORDS, min_size=1, max_size=30))
        parts.append(" ".join(words) + draw(ENDS))
        parts.append(draw(SEPS))
    return "".join(parts)


TEXTS = st.one_of(
    news_text(),
    st.text(max_size=400),
    st.text(alphabet=st.sampled_from(list("abc xyz\n")), max_size=2000),  # no punctuation at all
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
)


@st.composite
def configs(draw) -> ChunkerConfig:
    max_tokens = draw(st.integers(16, 64))
    return ChunkerConfig(max_tokens=max_tokens, overlap_tokens=draw(st.integers(0, max_tokens - 1)))


def n_tokens(text: str) -> int:
    return len(TOK.token_spans(text))


def check_passages(doc: Document, passages, config: ChunkerConfig) -> None:
    text = doc.text
    covered = bytearray(len(text))
    prev = (-1, -1)
    for p in passages:
        assert p.doc_id == doc.id
        assert text[p.start : p.end] == p.text
        assert p.text.strip(), "empty passage"
        assert n_tokens(p.text) <= config.max_tokens, (n_tokens(p.text), config)
        assert p.start > prev[0] and p.end >= prev[1], "passages out of order"
        prev = (p.start, p.end)
        covered[p.start : p.end] = b"\x01" * (p.end - p.start)
    missing = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not missing, f"characters not in any passage: {[text[i] for i in missing[:10]]}"


def check_sentences(text: str, spans: list[tuple[int, int]]) -> None:
    prev_end = 0
    covered = bytearray(len(text))
    for s, e in spans:
        assert prev_end <= s < e <= len(text), "spans must be non-empty, disjoint and in order"
        assert not text[s].isspace() and not text[e - 1].isspace(), "spans must be trimmed"
        covered[s:e] = b"\x01" * (e - s)
        prev_end = e
    missing = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not missing, f"characters not in any sentence: {[text[i] for i in missing[:10]]}"


EXAMPLES = [
    "",
    "\n\n\n",
    "One sentence only",
    "He said “it’s done.” Then he left.\u00a0Next\u00a0one here.",
    "Line one\r\nLine two.\r\n\r\nLine three!",
    "Заголовок\nПремьер-министр сказал, что это «реальный прогресс». Это всё.",
    "首相表示，这是真正的进展。会谈在华盛顿举行。",
    "قال رئيس الوزراء إن هذا تقدم حقيقي. انتهى الاجتماع.",
    "Flags 🇬🇧🇺🇸 and faces 😀😀 everywhere! 👍🏽 ok.",
    "no punctuation at all just words and more words " * 30,
]


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW_OK)
@given(text=TEXTS, config=configs())
@example(text="a " * 200, config=ChunkerConfig(16, 15))
@example(text="x" * 500, config=ChunkerConfig(16, 0))
def test_chunk_document_properties(text, config):
    doc = Document("d.txt", text)
    passages = chunk_document(doc, TOK, config)
    check_passages(doc, passages, config)
    if text.strip():
        assert passages


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW_OK)
@given(text=TEXTS, config=configs())
def test_segment_document_units_and_passages(text, config):
    doc = Document("d.txt", text)
    units, passages = segment_document(doc, TOK, config)
    assert passages == chunk_document(doc, TOK, config)
    check_sentences(text, units)
    for s, e in units:
        assert n_tokens(text[s:e]) <= config.max_tokens
    starts = {s for s, _ in units}
    ends = {e for _, e in units}
    for p in passages:  # passages are made of whole units
        assert p.start in starts and p.end in ends
    check_passages(doc, passages, config)


@pytest.mark.parametrize("text", EXAMPLES)
@pytest.mark.parametrize("config", [ChunkerConfig(16, 0), ChunkerConfig(16, 15), ChunkerConfig(64, 32)])
def test_chunk_examples(text, config):
    doc = Document("d.txt", text)
    check_passages(doc, chunk_document(doc, TOK, config), config)


def test_single_20000_character_sentence():
    words = ["word", "another", "Kyiv’s", "“quoted”", "x\u00a0y", "число", "数字"]
    text = " ".join(words[i % len(words)] for i in range(4000))[:20000]
    assert len(text) == 20000
    doc = Document("long.txt", text)
    config = ChunkerConfig(max_tokens=32, overlap_tokens=8)
    units, passages = segment_document(doc, TOK, config)
    assert len(passages) > 100
    check_passages(doc, passages, config)
    check_sentences(text, units)


def test_single_20000_character_token_free_run():
    text = "x" * 20000  # one giant token: still one passage, exact and whole
    doc = Document("x.txt", text)
    (p,) = chunk_document(doc, TOK, ChunkerConfig(16, 4))
    assert (p.start, p.end) == (0, 20000)


def test_overlap_repeats_trailing_sentences():
    text = " ".join(f"Sentence number {i} is here." for i in range(20))
    doc = Document("d.txt", text)
    passages = chunk_document(doc, TOK, ChunkerConfig(max_tokens=24, overlap_tokens=12))
    assert len(passages) > 2
    assert any(b.start < a.end for a, b in zip(passages, passages[1:])), "overlap must repeat text"
    no_overlap = chunk_document(doc, TOK, ChunkerConfig(max_tokens=24, overlap_tokens=0))
    assert all(b.start >= a.end for a, b in zip(no_overlap, no_overlap[1:]))


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW_OK)
@given(text=TEXTS)
def test_sentence_spans_properties(text):
    check_sentences(text, sentence_spans(text))


@pytest.mark.parametrize("text", EXAMPLES)
def test_sentence_spans_examples(text):
    check_sentences(text, sentence_spans(text))


def test_line_breaks_end_sentences():
    text = "Headline without a stop\nBy Jane Doe\r\nThe body starts. It goes on."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Headline without a stop",
        "By Jane Doe",
        "The body starts.",
        "It goes on.",
    ]


@pytest.mark.parametrize(("max_tokens", "overlap"), [(7, 0), (0, 0), (-5, 0), (16, 16), (16, 17), (16, -1)])
def test_chunker_config_validation(max_tokens, overlap):
    with pytest.raises(ValueError):
        ChunkerConfig(max_tokens=max_tokens, overlap_tokens=overlap)


def test_chunker_config_to_dict():
    assert ChunkerConfig(8, 7).to_dict() == {"max_tokens": 8, "overlap_tokens": 7}


@pytest.mark.integration
def test_seeds_chunk_within_real_model_limit(real_embedder, seeds_dir):
    from ragdiplo.ingest.corpus import load_corpus

    docs = load_corpus(seeds_dir)
    assert len(docs) == 5
    for config in (ChunkerConfig(), ChunkerConfig(max_tokens=real_embedder.max_tokens, overlap_tokens=0)):
        for doc in docs:
            raw = (seeds_dir / doc.id).read_bytes().decode("utf-8")
            for p in chunk_document(doc, real_embedder, config):
                assert raw[p.start : p.end] == p.text
                n = len(real_embedder.token_spans(p.text))
                assert n <= config.max_tokens <= real_embedder.max_tokens
                # the model's own tokenizer, with special tokens, must not truncate the passage
                ids = real_embedder._tokenizer(p.text, add_special_tokens=True, truncation=False)["input_ids"]
                assert len(ids) <= real_embedder.max_tokens + 2


def test_every_passage_adds_new_text():
    text = "the. the. the. the the the the the the the the the the the the. "
    doc = Document("d.txt", text)
    passages = chunk_document(doc, TOK, ChunkerConfig(max_tokens=16, overlap_tokens=4))
    check_passages(doc, passages, ChunkerConfig(16, 4))
    for a, b in zip(passages, passages[1:]):
        assert b.end > a.end, f"{b} adds nothing to {a}"


@pytest.mark.integration
def test_long_word_cut_between_wordpieces_stays_within_budget(real_embedder):
    word = "ufrsfczrzibvccaoayyihidztfljcffiqfviuwjowkppdajmknzgidixqgtnahamebxfowqvnrhuzwqohquamvszkv"
    doc = Document("w.txt", f"The code {word} was read aloud.")
    config = ChunkerConfig(max_tokens=20, overlap_tokens=0)
    for p in chunk_document(doc, real_embedder, config):
        assert doc.text[p.start : p.end] == p.text
        assert len(real_embedder.token_spans(p.text)) <= config.max_tokens

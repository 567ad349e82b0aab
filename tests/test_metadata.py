"""Article metadata: title, date, source, url and tags in from JSONL,
front matter and a sidecar file; kept by the index; offsets exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ragdiplo.cli.main as cli
from ragdiplo.errors import CorpusError
from ragdiplo.index.build import build_index, save_index
from ragdiplo.index.load import load_index
from ragdiplo.index.update import edit_index
from ragdiplo.ingest.corpus import load_corpus
from ragdiplo.ingest.metadata import headline
from ragdiplo.types import Document, Where

HARBOUR = "The mayor of Port Vesta signed a harbour deal worth $40 million on Tuesday. Dredging takes 18 months.\n"
STRIKE = "Union leaders in Kessel agreed to end the rail strike after wages rose by 5%. Trains run on Monday.\n"
DROUGHT = "Farmers in the Oran valley reported that wheat harvests fell by 15% this year. Aid was promised.\n"


def _front(text: str, **meta: str) -> str:
    lines = "".join(f"{k}: {v}\n" for k, v in meta.items())
    return f"---\n{lines}---\n{text}"


@pytest.fixture
def dated_folder(tmp_path: Path) -> Path:
    root = tmp_path / "news"
    root.mkdir()
    (root / "harbour.md").write_text(
        _front(HARBOUR, title='"Harbour deal signed"', date="2025-02-04", source="Vesta Herald", tags="[port, money]")
    )
    (root / "strike.txt").write_text(_front(STRIKE, date="2025-03-10T08:30:00Z", source="Kessel Times"))
    (root / "drought.txt").write_text("Drought hits Oran valley farmers\n\n" + DROUGHT)  # no front matter
    return root


def test_front_matter_is_metadata_and_not_text(dated_folder):
    docs = {d.id: d for d in load_corpus(dated_folder)}
    harbour = docs["harbour.md"]
    assert harbour.text == HARBOUR  # the body only: passages never quote the front matter
    assert (harbour.title, harbour.date, harbour.source, harbour.tags) == (
        "Harbour deal signed", "2025-02-04", "Vesta Herald", ("port", "money"))
    assert (docs["strike.txt"].date, docs["strike.txt"].source, docs["strike.txt"].title) == (
        "2025-03-10T08:30:00Z", "Kessel Times", None)  # a sentence, not a headline: no title
    assert docs["drought.txt"].title == "Drought hits Oran valley farmers"  # first line as headline
    assert docs["drought.txt"].date is None and docs["drought.txt"].text.startswith("Drought hits")


def test_citations_quote_the_body_exactly(dated_folder, fake_embedder):
    from ragdiplo.answer.settings import QAConfig
    from ragdiplo.qa import QA

    qa = QA(build_index(load_corpus(dated_folder), fake_embedder), fake_embedder, QAConfig(reader=None))
    answer = qa.ask("How much was the harbour deal worth?")
    assert answer.citations
    for c in answer.citations:
        assert qa.index.document(c.doc_id).text[c.start : c.end] == c.text
        assert "---" not in c.text and "Vesta Herald" not in c.text
    for h in answer.retrieved:
        assert qa.index.document(h.passage.doc_id).text[h.passage.start : h.passage.end] == h.passage.text


def test_jsonl_metadata_fields(tmp_path):
    rows = [
        {"id": "a", "text": HARBOUR, "title": "Harbour", "date": "2025-02-04", "source": "Herald",
         "url": "https://example.org/a", "tags": ["port"]},
        {"id": "b", "text": STRIKE, "tags": "rail"},
    ]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    a, b = load_corpus(path)
    assert a.meta == {"title": "Harbour", "date": "2025-02-04", "source": "Herald", "url": "https://example.org/a",
                      "tags": ["port"]}
    assert b.meta == {"tags": ["rail"]}


@pytest.mark.parametrize("bad", ["27/02/2025", "2025-02-30", "Feb 2025", "2025-2-4", "2025-02-04T25:00"])
def test_a_bad_date_names_the_file_and_line(tmp_path, bad):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "a", "text": "x y"}) + "\n" + json.dumps({"id": "b", "text": "z", "date": bad}))
    with pytest.raises(CorpusError, match=r"c\.jsonl:2: bad date"):
        load_corpus(path)
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "x.md").write_text(_front("Body text.\n", date=bad))
    with pytest.raises(CorpusError, match=r"x\.md: bad date"):
        load_corpus(folder)


def test_bad_front_matter_and_fields_are_errors(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "x.md").write_text("---\ntitle: [unclosed\n---\nBody.\n")
    with pytest.raises(CorpusError, match=r"x\.md, line \d+: front matter is not valid YAML"):
        load_corpus(folder)
    (folder / "x.md").write_text("---\nsource: {a: b}\n---\nBody.\n")
    with pytest.raises(CorpusError, match=r"x\.md: 'source' must be a string"):
        load_corpus(folder)


def test_a_rule_is_not_front_matter(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    text = "---\nA paragraph between two rules.\n---\nMore text.\n"
    (folder / "x.md").write_text(text)
    (folder / "y.md").write_text("---\nno closing rule\n")
    docs = load_corpus(folder)
    assert [d.text for d in docs] == [text, "---\nno closing rule\n"]


def test_sidecar_wins_field_by_field(dated_folder, tmp_path):
    side = tmp_path / "meta.jsonl"
    side.write_text(json.dumps({"id": "harbour.md", "source": "Port Gazette"}) + "\n"
                    + json.dumps({"id": "drought.txt", "date": "2025-01-20", "title": "Dry year"}) + "\n")
    docs = {d.id: d for d in load_corpus(dated_folder, metadata=side)}
    assert (docs["harbour.md"].source, docs["harbour.md"].date) == ("Port Gazette", "2025-02-04")
    assert (docs["drought.txt"].title, docs["drought.txt"].date) == ("Dry year", "2025-01-20")


@pytest.mark.parametrize(("line", "message"), [
    ({"id": "nope.txt", "source": "X"}, r"meta\.jsonl: no document with id 'nope\.txt'"),
    ({"id": "harbour.md", "sauce": "X"}, r"meta\.jsonl:1: unknown field\(s\) sauce"),
    ({"id": "harbour.md", "date": "yesterday"}, r"meta\.jsonl:1: bad date"),
])
def test_sidecar_errors(dated_folder, tmp_path, line, message):
    side = tmp_path / "meta.jsonl"
    side.write_text(json.dumps(line) + "\n")
    with pytest.raises(CorpusError, match=message):
        load_corpus(dated_folder, metadata=side)


def test_seed_titles_come_from_headlines(seeds_dir):
    docs = load_corpus(seeds_dir)
    for d in docs:  # the text is the file, byte for byte
        assert d.text == (seeds_dir / d.id).read_text(encoding="utf-8")
    titles = [d.title for d in docs]
    assert titles[0].startswith("Keir Starmer's Diplomatic Mission: Urging US Security Guarantees")
    assert titles[2].startswith("Keir Starmer’s High-Stakes Mission in Washington")
    assert titles[3:] == [None, None]  # these two open with a sentence, not a headline
    assert headline("Short line.\nBody") is None and headline("Only one line") is None


def test_the_index_keeps_metadata(dated_folder, fake_embedder, tmp_path):
    docs = load_corpus(dated_folder)
    save_index(build_index(docs, fake_embedder), tmp_path / "idx")
    for mmap in (False, True):
        loaded = load_index(tmp_path / "idx", mmap=mmap)
        assert [loaded.document(d.id) for d in docs] == docs
        assert all(a == b for a, b in zip(loaded.documents, sorted(docs, key=lambda d: d.id)))
    row = json.loads((next((tmp_path / "idx").glob("data-*")) / "documents.jsonl").read_text().split("\n")[0])
    assert list(row) == ["id", "title", "text"]  # drought.txt: only what is set (and title, as before)


def test_changing_only_metadata_embeds_nothing(dated_folder, fake_embedder, tmp_path):
    with edit_index(tmp_path / "idx", fake_embedder) as editor:
        editor.sync(load_corpus(dated_folder))
    (dated_folder / "strike.txt").write_text(_front(STRIKE, date="2025-03-11", source="Kessel Post"))
    with edit_index(tmp_path / "idx", fake_embedder) as editor:
        editor.sync(load_corpus(dated_folder))
    changes = editor.changes
    assert (changes.updated, changes.embedded, changes.added, changes.removed) == (("strike.txt",), 0, (), ())
    doc = load_index(tmp_path / "idx").document("strike.txt")
    assert (doc.date, doc.source, doc.text) == ("2025-03-11", "Kessel Post", STRIKE)


def test_same_text_other_source_is_stored_apart(fake_embedder):
    docs = [Document("a", HARBOUR, source="Herald"), Document("b", HARBOUR, source="Gazette"),
            Document("c", HARBOUR, source="Herald")]
    index = build_index(docs, fake_embedder)
    assert index.alias_of == {"c": "a"}  # same text and metadata: one copy
    assert index.document("b").source == "Gazette" and index.document("c").source == "Herald"


def test_cli_index_takes_a_sidecar(dated_folder, tmp_path, capsys):
    side = tmp_path / "meta.jsonl"
    side.write_text(json.dumps({"id": "drought.txt", "date": "2025-13-01"}) + "\n")
    code = cli.main(["index", str(dated_folder), "--index", str(tmp_path / "idx"), "--metadata", str(side), "-q"])
    assert code == 2 and not (tmp_path / "idx" / "manifest.json").exists()
    assert "meta.jsonl:1: bad date: '2025-13-01' is not a real date" in capsys.readouterr().err


def test_where_checks_its_bounds():
    assert Where(since="2025-02-01", until="2025-02-04").matches("2025-02-04T23:59:59Z", None)
    assert not Where(until="2025-02-04").matches("2025-02-05", None)
    assert not Where(since="2025-02-01").matches(None, None)  # undated: never in a date range
    assert Where(source="vesta herald").matches(None, "Vesta Herald")
    assert Where(tag="Port").matches(None, None, ("port",)) and not Where(tag="rail").matches(None, None, ("port",))
    with pytest.raises(ValueError, match="after"):
        Where(since="2025-03-01", until="2025-02-01")
    with pytest.raises(ValueError, match="ISO 8601"):
        Where(since="March")
    assert not Where() and Where(source="x")


def test_citations_name_title_source_and_date():
    from ragdiplo.cli.format import citation_place
    from ragdiplo.types import Citation

    c = Citation("a.txt", 0, 5, "hello", 1.0, title="Harbour deal", date="2025-02-04", source="Herald")
    assert citation_place(c) == "Harbour deal — Herald, 2025-02-04 (a.txt:0-5)"
    assert citation_place(Citation("a.txt", 0, 5, "hello", 1.0, source="Herald")) == "Herald (a.txt:0-5)"
    assert citation_place(Citation("a.txt", 0, 5, "hello", 1.0)) == "a.txt:0-5"


def test_the_report_shows_where_a_citation_comes_from(dated_folder, fake_embedder):
    from ragdiplo.eval.report import _source

    index = build_index(load_corpus(dated_folder), fake_embedder)
    html = _source(index, "harbour.md", 0, 10)
    assert "Harbour deal signed · Vesta Herald · 2025-02-04" in html


def test_qa_build_takes_a_sidecar(dated_folder, tmp_path, fake_embedder):
    from ragdiplo.qa import QA

    side = tmp_path / "meta.jsonl"
    side.write_text(json.dumps({"id": "drought.txt", "date": "2025-01-20", "source": "Oran News"}) + "\n")
    qa = QA.build(dated_folder, embedder=fake_embedder, metadata=side)
    assert (qa.index.document("drought.txt").date, qa.index.document("drought.txt").source) == ("2025-01-20", "Oran News")


def test_the_seeds_sidecar_dates_every_seed(seeds_dir):
    side = Path(__file__).parents[1] / "examples" / "seeds-metadata.jsonl"
    docs = load_corpus(seeds_dir, metadata=side)
    assert all(d.date and d.source for d in docs)
    assert [d.date for d in docs] == ["2025-02-26", "2025-02-26", "2025-02-27", "2025-08-19", "2025-03-03"]

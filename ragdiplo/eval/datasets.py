"""Evaluation inputs: ragdiplo gold JSONL, SQuAD v1.1 JSON and BEIR folders.

Each reader turns its format into the library's own types (``Document`` plus
gold questions or queries with relevance judgements), so one evaluation code
path serves all three. The kind of input is told from the path itself.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from ragdiplo.errors import CorpusError, GoldError
from ragdiplo.ingest.corpus import check_doc_id, read_regular_file
from ragdiplo.ingest.sentences import sentence_spans
from ragdiplo.types import Document

_UNSAFE_ID = re.compile(r"[^\w.-]")


class InputKind(str, Enum):
    GOLD = "gold-jsonl"
    SQUAD = "squad-json"
    BEIR = "beir"


@dataclass(frozen=True)
class BeirSet:
    """A BEIR split: the documents, the queries that have judgements, and the
    graded judgements (query id -> document id -> grade)."""

    documents: list[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def input_kind(path: str | Path, split: str = "test") -> InputKind:
    """BEIR for a folder with corpus.jsonl + queries.jsonl + qrels/<split>.tsv,
    SQuAD for a .json file with a top-level ``data`` list, else gold JSONL."""
    p = Path(path)
    if p.is_dir():
        missing = [n for n in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv") if not (p / n).exists()]
        if missing:
            raise GoldError(f"{p}: a BEIR folder needs corpus.jsonl, queries.jsonl and qrels/{split}.tsv; missing {', '.join(missing)}")
        return InputKind.BEIR
    if not p.exists():
        raise GoldError(f"{p}: no such file or folder; pass a gold .jsonl, a SQuAD .json or a BEIR folder")
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(read_input(p))
        except json.JSONDecodeError as err:
            raise GoldError(f"{p}: not a SQuAD JSON file ({err})") from None
        if not (isinstance(data, dict) and isinstance(data.get("data"), list)):
            raise GoldError(f'{p}: a .json input must be SQuAD v1.1 ({{"data": [...]}}); gold sets are .jsonl')
        return InputKind.SQUAD
    return InputKind.GOLD


@dataclass(frozen=True)
class Evidence:
    doc: str
    start: int
    end: int


@dataclass(frozen=True)
class GoldQuestion:
    id: str
    question: str
    answers: tuple[str, ...]
    evidence: tuple[Evidence, ...]

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


# -- gold JSONL ----------------------------------------------------------------------------------


def read_input(path: str | Path) -> str:
    """The text of an evaluation input file, checked as corpus files are (a regular
    file of at most ``MAX_FILE_BYTES``: a FIFO or a device is refused unread)."""
    data = read_regular_file(path, str(path), error=GoldError, remedy="pass a regular file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise GoldError(f"{path}: not UTF-8 text (byte {err.start}); convert it, e.g. `iconv -t utf-8`") from None


def _read_lines(path: str | Path) -> list[str]:
    return read_input(path).split("\n")


GOLD_FIELDS = ("id", "question", "answers", "evidence")


def read_gold(path: str | Path, documents: dict[str, Document]) -> list[GoldQuestion]:
    """Read gold JSONL (checked whole first, see ``check_gold``), locating each
    evidence quote in its document."""
    gold = []
    for lineno, row in _gold_rows(path):
        try:
            gold.append(_gold_question(row, documents))
        except CorpusError as err:
            raise CorpusError(f"{path}:{lineno}: {err}") from None
    return gold


def check_gold(path: str | Path) -> None:
    """Every line of a gold JSONL is a well-formed question with its own id; the
    error names the line. Run before anything is answered, so a bad file costs nothing."""
    _gold_rows(path)


def _gold_rows(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    rows: list[tuple[int, dict[str, Any]]] = []
    first_line: dict[str, int] = {}
    for lineno, line in enumerate(_read_lines(path), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as err:
            raise GoldError(f"{where}: not JSON ({err}); each line is one question object") from None
        problem = _gold_problem(row)
        if problem:
            raise GoldError(f"{where}: {problem}; see the gold format in the README")
        key = str(row["id"])
        if key in first_line:
            raise GoldError(f"{where}: the id {key!r} is also on line {first_line[key]}; give every question its own id")
        first_line[key] = lineno
        rows.append((lineno, row))
    if not rows:
        raise GoldError(f"no questions in {path}; write one question object per line")
    return rows


def _gold_problem(row: Any) -> str | None:
    """What is wrong with one gold question, None when nothing is."""
    if not isinstance(row, dict):
        return "not a JSON object"
    unknown = sorted(set(row) - set(GOLD_FIELDS))
    if unknown:
        return f"unknown field {unknown[0]!r} (a question has {', '.join(GOLD_FIELDS)})"
    if type(row.get("id")) not in (str, int) or str(row["id"]).strip() == "":
        return "'id' must be a non-empty string"
    if not isinstance(row.get("question"), str) or not row["question"].strip():
        return "'question' must be a non-empty string"
    answers = row.get("answers", [])
    if not isinstance(answers, list) or not all(isinstance(a, str) and a.strip() for a in answers):
        return "'answers' must be a list of non-empty strings, e.g. [\"2027\"] ([] when unanswerable)"
    evidence = row.get("evidence", [])
    if not isinstance(evidence, list) or not all(
        isinstance(e, dict) and set(e) == {"doc", "quote"} and isinstance(e["doc"], str)
        and isinstance(e["quote"], str) and e["quote"].strip() for e in evidence
    ):  # fmt: skip
        return "'evidence' must be a list of {\"doc\": ID, \"quote\": TEXT} with a non-empty quote"
    return None


def _gold_question(row: dict[str, Any], documents: dict[str, Document]) -> GoldQuestion:
    evidence = []
    for ev in row.get("evidence", []):
        doc = documents.get(ev["doc"])
        start = doc.text.find(ev["quote"]) if doc else -1
        if start < 0:
            raise CorpusError(f"evidence quote not found in {ev['doc']!r}; is the index built from the right corpus?")
        evidence.append(Evidence(ev["doc"], start, start + len(ev["quote"])))
    return GoldQuestion(str(row["id"]), row["question"], tuple(row.get("answers", [])), tuple(evidence))


# -- SQuAD v1.1 JSON -------------------------------------------------------------------------------


def squad_doc_id(title: str) -> str:
    """``Sky_(United_Kingdom)`` -> ``Sky__United_Kingdom_.txt``: the file name the
    article would have in a corpus folder."""
    return _UNSAFE_ID.sub("_", title) + ".txt"


def _sentence_around(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence(s) of ``text`` covering [start, end); the span itself if none does."""
    spans = [(s, e) for s, e in sentence_spans(text) if s < end and start < e]
    return (min(spans[0][0], start), max(spans[-1][1], end)) if spans else (start, end)


def _squad_article(article: dict[str, Any], where: str) -> tuple[Document, list[GoldQuestion]]:
    doc_id = squad_doc_id(str(article["title"]))
    paragraphs = article["paragraphs"]
    text = "\n\n".join(p["context"] for p in paragraphs)
    gold, offset = [], 0
    for p in paragraphs:
        context = p["context"]
        for qa in p["qas"]:
            answers = qa.get("answers", [])
            evidence: tuple[Evidence, ...] = ()
            if answers:
                a = answers[0]
                start = int(a["answer_start"])
                if context[start : start + len(a["text"])] != a["text"]:
                    raise GoldError(f"{where}: question {qa['id']}: the answer is not at answer_start in its paragraph")
                s, e = _sentence_around(context, start, start + len(a["text"]))
                evidence = (Evidence(doc_id, offset + s, offset + e),)
            gold.append(GoldQuestion(str(qa["id"]), str(qa["question"]), tuple(a["text"] for a in answers), evidence))
        offset += len(context) + 2
    return Document(doc_id, text), gold


def read_squad(path: str | Path) -> tuple[list[Document], list[GoldQuestion]]:
    """SQuAD v1.1 JSON: each article one document (its paragraphs joined by a
    blank line), each question a gold question whose evidence is the sentence
    holding its first answer, located by ``answer_start``."""
    text = read_input(path)
    try:
        data = json.loads(text)["data"]
        pairs = [_squad_article(article, f"{path}: article {i}") for i, article in enumerate(data)]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise GoldError(f"{path}: not SQuAD v1.1 JSON ({type(err).__name__}: {err})") from None
    ids = [d.id for d, _ in pairs]
    if len(set(ids)) != len(ids):
        raise GoldError(f"{path}: two articles have the same title, so the same document id")
    gold = [q for _, qs in pairs for q in qs]
    if not gold:
        raise GoldError(f"no questions in {path}")
    counts = Counter(q.id for q in gold)
    twice = [qid for qid, n in counts.items() if n > 1]
    if twice:
        raise GoldError(f"{path}: question ids used more than once: {', '.join(map(repr, twice[:5]))}"
                        f"{' ...' if len(twice) > 5 else ''}; give every question its own id")
    return [d for d, _ in pairs], gold


# -- BEIR ----------------------------------------------------------------------------------------


def _jsonl_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Each line's object with where it stands (``path:line``): a string ``_id``
    without white space (it is a column of the TREC run and of the qrels), and a
    ``title`` and ``text`` that are strings when present."""
    rows = []
    for lineno, line in enumerate(read_input(path).splitlines(), 1):
        if line.strip():
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except ValueError as err:
                raise GoldError(f"{where}: not a BEIR line ({err})") from None
            if not isinstance(row, dict) or not isinstance(row.get("_id"), str) or not row["_id"]:
                raise GoldError(f'{where}: not a BEIR line (each line needs a non-empty string "_id")')
            if re.search(r"\s", row["_id"]):
                raise GoldError(f"{where}: the id {row['_id']!r} holds white space, which would split its column "
                                "of a TREC run; rename it")
            wrong = [k for k in ("title", "text") if not isinstance(row.get(k) or "", str)]
            if wrong:
                raise GoldError(f"{where}: {wrong[0]!r} must be a string (got {row[wrong[0]]!r})")
            rows.append((where, row))
    return rows


def beir_document(row: dict[str, Any], where: str = "BEIR corpus") -> Document:
    """BEIR's convention is to retrieve on title + text; the title is made part of
    the document's text (title, blank line, text) so every passage and citation is
    still an exact span of ``Document.text``. The id is checked as a corpus's are
    (``check_doc_id``): none may read as a path out of the corpus."""
    title = row.get("title") or ""
    text = str(row.get("text") or "")
    doc_id = check_doc_id(row["_id"], where)
    return Document(id=doc_id, text=f"{title}\n\n{text}" if title else text, title=title or None)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``query-id corpus-id score`` lines (tabs, a header line and CRLF allowed)."""
    qrels: dict[str, dict[str, int]] = {}
    for lineno, line in enumerate(read_input(path).splitlines(), 1):
        parts = line.split()
        if not parts or (lineno == 1 and parts[0] == "query-id"):
            continue
        if len(parts) != 3:
            raise GoldError(f"{path}:{lineno}: expected 'query-id corpus-id score', got {line!r}")
        try:
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
        except ValueError:
            raise GoldError(f"{path}:{lineno}: the score {parts[2]!r} is not an integer") from None
    return qrels


def read_beir(folder: str | Path, split: str = "test") -> BeirSet:
    """The split's judged queries over the whole corpus; empty documents are dropped
    (they cannot be retrieved or cited)."""
    root = Path(folder)
    input_kind(root, split)
    docs = [beir_document(r, where) for where, r in _jsonl_rows(root / "corpus.jsonl")]
    queries = {r["_id"]: str(r.get("text") or "") for _, r in _jsonl_rows(root / "queries.jsonl")}
    qrels = read_qrels(root / "qrels" / f"{split}.tsv")
    if not qrels:
        raise GoldError(f"no questions in {root}: qrels/{split}.tsv judges no queries")
    missing = sorted(set(qrels) - set(queries))
    if missing:
        raise GoldError(f"{root}: qrels/{split}.tsv judges {len(missing)} queries not in queries.jsonl (e.g. {missing[0]!r})")
    docs = [d for d in docs if d.text.strip()]
    if not docs:
        raise CorpusError(f"{root}/corpus.jsonl: no documents with text")
    return BeirSet(docs, {q: queries[q] for q in sorted(qrels, key=_natural)}, qrels)


def _natural(key: str) -> tuple[int, int | str]:
    """Numeric ids in numeric order, others after them in string order."""
    return (0, int(key)) if key.isdigit() else (1, key)

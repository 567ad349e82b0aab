"""Article metadata: title, date, source, url and tags.

They come from a JSONL corpus's own fields, from YAML front matter at the top
of a ``.md``/``.txt`` file, or from a sidecar JSONL file of ``{"id", ...}``
lines (``load_corpus(metadata=...)``, ``--metadata FILE``), which wins field by
field. Front matter is cut off: the document's text is the body after it, so
passages and citations never quote it and their offsets index the body.
When no title is given, the article's first line is its title if it reads as a
headline. Every value is checked here; a bad one is a ``CorpusError`` naming
the file (and line).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from ragdiplo.errors import CorpusError
from ragdiplo.types import META_FIELDS, Document, parse_date

_FENCE = re.compile(r"---[ \t]*\r?\n")
_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.MULTILINE)
MAX_HEADLINE_CHARS = 200  # a longer first line is a paragraph, not a headline
MIN_HEADLINE_WORDS = 3


def split_front_matter(text: str, where: str) -> tuple[dict[str, Any], str]:
    """The YAML mapping between a first line ``---`` and the next ``---`` (or
    ``...``) line, and the body after it; ``({}, text)`` when the text has none.

    Scalars are read as strings (PyYAML's ``BaseLoader``: it builds no objects
    and turns neither ``2025-02-27`` into a date nor ``no`` into False), so a
    date is checked by ``parse_date`` as written."""
    if not _FENCE.match(text):
        return {}, text
    start = _FENCE.match(text).end()  # type: ignore[union-attr]
    close = _CLOSE.search(text, start)
    if close is None:
        return {}, text  # an opening rule with no closing one: a Markdown rule, not front matter
    import yaml

    try:
        data = yaml.load(text[start : close.start()], Loader=yaml.BaseLoader)  # BaseLoader builds no objects
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f", line {mark.line + 2}" if mark is not None else ""
        raise CorpusError(f"{where}{line}: front matter is not valid YAML ({getattr(err, 'problem', err)}); fix it") from None
    if not isinstance(data, dict):
        return {}, text  # e.g. a rule, a paragraph and a rule: text, not front matter
    return data, text[close.end() :]


def meta_fields(row: dict[str, Any], where: str) -> dict[str, Any]:
    """The metadata fields of ``row`` (other keys are left alone), checked and as
    ``Document`` takes them: strings, ``tags`` a tuple (a list or one string)."""
    out: dict[str, Any] = {}
    for name in META_FIELDS:
        value = row.get(name)
        if value is None or value == "" or value == []:
            continue
        if name == "tags":
            tags = [value] if isinstance(value, str) else value
            if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
                raise CorpusError(f'{where}: "tags" must be a list of non-empty strings (got {value!r})')
            out[name] = tuple(dict.fromkeys(t.strip() for t in tags))
            continue
        if not isinstance(value, str):
            raise CorpusError(f"{where}: {name!r} must be a string (got {value!r})")
        if name == "date":
            try:
                parse_date(value)
            except ValueError as err:
                raise CorpusError(f"{where}: bad date: {err}") from None
        out[name] = value.strip()
    return out


def headline(text: str) -> str | None:
    """The first non-blank line of ``text`` when it reads as a headline: more text
    follows it, it has a few words, at most ``MAX_HEADLINE_CHARS`` characters,
    and it does not end like a sentence (``.``, ``:``, ``;``, ``,``)."""
    stripped = text.lstrip()
    first, newline, rest = stripped.partition("\n")
    first = first.strip()
    if not newline or not rest.strip() or len(first) > MAX_HEADLINE_CHARS:
        return None
    if len(first.split()) < MIN_HEADLINE_WORDS or first[-1] in ".:;,":
        return None
    return first


def with_headline(doc: Document) -> Document:
    """``doc`` with its headline as title when it has no title."""
    if doc.title is not None:
        return doc
    title = headline(doc.text)
    return replace(doc, title=title) if title else doc


def json_lines(text: str, name: str) -> Iterator[tuple[str, Any]]:
    """The JSON value of each non-blank line of ``text`` with where it stands
    (``name:line``); a line that is not JSON is an error naming it."""
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{name}:{lineno}"
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as err:
            raise CorpusError(f"{where}: invalid JSON ({err.msg})") from None


def sidecar_fields(text: str, name: str) -> dict[str, dict[str, Any]]:
    """The ``{"id", "title"?, "date"?, "source"?, "url"?, "tags"?}`` lines of a
    sidecar file's ``text`` by id (``name``: the file's, for errors). Any other
    key is an error (a misspelt field would otherwise be lost silently)."""
    out: dict[str, dict[str, Any]] = {}
    for where, row in json_lines(text, name):
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise CorpusError(f'{where}: each line needs a string "id" and metadata fields')
        unknown = sorted(set(row) - {"id", *META_FIELDS})
        if unknown:
            raise CorpusError(f"{where}: unknown field(s) {', '.join(unknown)}; use {', '.join(META_FIELDS)}")
        if row["id"] in out:
            raise CorpusError(f"{where}: duplicate id {row['id']!r}")
        out[row["id"]] = meta_fields(row, where)
    return out


def apply_sidecar(documents: list[Document], sidecar: dict[str, dict[str, Any]], name: str) -> list[Document]:
    """``documents`` with the sidecar's fields over their own; an id the corpus
    lacks is an error (a typo would otherwise leave an article undated)."""
    ids = {d.id for d in documents}
    missing = sorted(set(sidecar) - ids)
    if missing:
        raise CorpusError(f"{name}: no document with id {', '.join(map(repr, missing[:5]))} in the corpus")
    return [replace(d, **sidecar[d.id]) if d.id in sidecar else d for d in documents]

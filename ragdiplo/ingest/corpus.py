"""Load a corpus: a folder of ``.txt``/``.md`` files or a JSONL file.

Text is decoded from the bytes on disk as strict UTF-8 with no newline or
Unicode normalisation, so character offsets stay valid against the file (for a
file with YAML front matter, against its body after the front matter: see
metadata.py).
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ragdiplo.errors import CorpusError, RagdiploError
from ragdiplo.ingest.metadata import (
    apply_sidecar,
    json_lines,
    meta_fields,
    sidecar_fields,
    split_front_matter,
    with_headline,
)
from ragdiplo.types import Document

TEXT_SUFFIXES = (".txt", ".md")
MAX_FILE_BYTES = 200 * 1024 * 1024  # a whole JSONL corpus file
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024  # one document: far above any article, far below what is sensible to embed
MAX_ID_CHARS = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")  # surrogates: undecodable file-name bytes
_PATH_SEP = re.compile(r"[/\\]")


def check_doc_id(doc_id: object, where: str) -> str:
    """Refuse ids that could not be shown on one line or that read as a path out of
    the corpus (absolute, or with a ``..`` part): ids name documents in citations,
    and whoever maps one back to a file must stay inside the corpus root."""
    if not isinstance(doc_id, str) or not doc_id:
        raise CorpusError(f'{where}: missing or empty document "id"')
    if len(doc_id) > MAX_ID_CHARS or _CONTROL.search(doc_id):
        raise CorpusError(
            f"{where}: document id {doc_id[:80]!r} is over {MAX_ID_CHARS} characters "
            "or has control characters or undecodable bytes; rename it"
        )
    if doc_id[0] in "/\\" or re.match(r"[A-Za-z]:[/\\]", doc_id) or ".." in _PATH_SEP.split(doc_id):
        raise CorpusError(
            f"{where}: document id {doc_id!r} reads as a path outside the corpus; use a relative name without '..'"
        )
    return doc_id


def _too_big(name: str, size: int, limit: int) -> CorpusError:
    what = f"{name}: {size:,} bytes is over the per-document limit of {limit:,} bytes ({limit / 2**20:g} MiB); split it"
    return CorpusError(f"{what}, or raise the limit with load_corpus(..., max_document_bytes=N)",
                       cli_message=f"{what}, or raise the limit with --max-document-mb")


def decode_text(data: bytes, name: str) -> str:
    """Decode file bytes, refusing binary data and non-UTF-8 text with a remedy."""
    if b"\x00" in data:
        raise CorpusError(f"{name}: looks like a binary file (it has NUL bytes); remove it from the corpus")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CorpusError(
            f"{name}: not valid UTF-8 (byte {err.start}); convert it, e.g. `iconv -f latin1 -t utf-8`"
        ) from None


def read_regular_file(
    path: str | os.PathLike[str],
    name: str,
    limit: int | None = None,
    *,
    error: type[RagdiploError] = CorpusError,
    remedy: str = "pass a regular file",
    too_big: Callable[[int], RagdiploError] | None = None,
) -> bytes:
    """The bytes of one regular file (a symlink to one is fine) of at most
    ``limit`` bytes (default ``MAX_FILE_BYTES``, looked up when called). Its kind
    and size are checked before anything is read, and again on the open file (it
    is opened without blocking), so a FIFO or a device never blocks or fills
    memory, even one swapped in between. ``error`` is the exception raised, with
    ``remedy`` after "not a regular file"; ``too_big(size)`` makes the error for a
    file over the limit (default: one naming the limit)."""
    cap = MAX_FILE_BYTES if limit is None else limit

    def check(info: os.stat_result) -> None:
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{name}: not a regular file (a pipe, socket or device); {remedy}")
        if info.st_size > cap:
            raise too_big(info.st_size) if too_big else error(
                f"{name}: {info.st_size:,} bytes is over the limit of {cap:,} bytes for this file")

    try:
        check(os.stat(path))
        with open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as f:
            check(os.fstat(f.fileno()))
            data = f.read(cap + 1)
    except OSError as err:
        raise error(f"{name}: cannot be read ({err.strerror or err})") from None
    if len(data) > cap:  # it grew while being read
        raise too_big(len(data)) if too_big else error(f"{name}: over the limit of {cap:,} bytes for this file")
    return data


def read_text_file(path: Path, name: str, limit: int = MAX_DOCUMENT_BYTES) -> str:
    """The text of one regular file (a symlink to one is fine); its kind and size
    are checked before anything is read, so a FIFO or a device never blocks or
    fills memory."""
    data = read_regular_file(path, name, limit, remedy="remove it from the corpus or rename it",
                             too_big=lambda size: _too_big(name, size, limit))
    return decode_text(data, name)


def read_sidecar(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """A metadata sidecar's fields by document id (see ``metadata.sidecar_fields``);
    the file is checked as corpus files are: regular, at most ``MAX_FILE_BYTES``."""
    data = read_regular_file(path, str(path), remedy="pass a JSONL file of metadata")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CorpusError(f"{path}: the metadata file is not valid UTF-8 (byte {err.start})") from None
    return sidecar_fields(text, Path(path).name)


def _walk_error(err: OSError) -> None:
    """Any folder that cannot be listed stops loading: skipping it would make a
    sync remove its documents from the index."""
    raise CorpusError(
        f"{err.filename}: cannot be read ({err.strerror}); fix its permissions or move it out of the corpus"
    )


def _unopenable(folder: str, err: OSError) -> CorpusError:
    return CorpusError(f"{folder}: cannot be read (its files cannot be opened: {err.strerror}); fix its permissions "
                       "(e.g. chmod a+rx) or move it out of the corpus")


def _walk_text_files(root: Path, skipped: Counter[str]) -> list[Path]:
    """The corpus's text files, in order; what is passed over is counted by reason
    in ``skipped``. A folder whose names can be listed but whose files cannot be
    opened (no search permission) stops loading as an unlistable one does."""
    found: list[Path] = []
    inside_root = root.resolve()
    for folder, dirs, files in os.walk(root, onerror=_walk_error, followlinks=False):
        if dirs or files:
            try:
                os.lstat(os.path.join(folder, (dirs or files)[0]))
            except PermissionError as err:
                raise _unopenable(folder, err) from None
        linked = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
        for d in dirs:
            if d in linked or d.startswith("."):
                skipped["linked folder (not followed)" if d in linked else "hidden"] += 1
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in linked)
        for name in sorted(files):
            if name.startswith(".") or not name.lower().endswith(TEXT_SUFFIXES):
                skipped["hidden" if name.startswith(".") else "not .txt or .md"] += 1
                continue
            path = Path(folder, name)
            try:
                inside = path.resolve(strict=True).is_relative_to(inside_root)
            except PermissionError as err:
                raise _unopenable(folder, err) from None
            except (OSError, RuntimeError):  # dangling link or a symlink loop
                skipped["broken link"] += 1
                continue
            if inside:
                found.append(path)
            else:
                skipped["outside the corpus"] += 1
    return found


def read_article(path: Path, doc_id: str, max_document_bytes: int = MAX_DOCUMENT_BYTES) -> Document:
    """One text file as a document: its front matter (if any) as metadata, the body as text."""
    front, body = split_front_matter(read_text_file(path, doc_id, max_document_bytes), doc_id)
    return Document(id=doc_id, text=body, **meta_fields(front, doc_id))


def load_folder(root: Path, max_document_bytes: int = MAX_DOCUMENT_BYTES, skipped: Counter[str] | None = None
                ) -> list[Document]:
    """Every text file under ``root`` as a document; files passed over are counted
    by reason in ``skipped`` when it is given."""
    docs = []
    for path in _walk_text_files(root, Counter() if skipped is None else skipped):
        name = path.relative_to(root).as_posix()
        docs.append(read_article(path, check_doc_id(name, name), max_document_bytes))
    return docs


def _utf8_size(where: str, *values: str) -> int:
    """UTF-8 size of ``values``; JSON escapes can make lone surrogates, which are not text."""
    try:
        return sum(len(v.encode("utf-8")) for v in values)
    except UnicodeEncodeError:
        raise CorpusError(f"{where}: a lone surrogate escape (\\udXXX) is not text; fix that line") from None


def load_jsonl(path: Path, max_document_bytes: int = MAX_DOCUMENT_BYTES) -> list[Document]:
    """Read ``{"id", "text", "title"?, "date"?, "source"?, "url"?, "tags"?}`` lines;
    ids must be unique strings, and a metadata field of another type (``"title": 42``)
    is refused with its line rather than dropped unnoticed."""
    docs: list[Document] = []
    seen: set[str] = set()
    text = read_text_file(path, path.name, max(MAX_FILE_BYTES, max_document_bytes))
    for where, row in json_lines(text, path.name):
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise CorpusError(f'{where}: each line needs a string "text" (and an "id")')
        key = "id" if "id" in row else "_id"
        raw = row.get(key, "")
        if isinstance(raw, bool) or not isinstance(raw, (str, int)):  # an integer id is read as its digits
            raise CorpusError(f"{where}: {key!r} must be a string (got {json.dumps(raw)[:80]})")
        doc_id = check_doc_id(str(raw), where)
        meta = meta_fields(row, where)  # a title, date or source that is not a string is refused, naming the line
        size = _utf8_size(where, row["text"], meta.get("title", ""), doc_id)
        if size > max_document_bytes:
            raise _too_big(f"{where} (id {doc_id!r})", size, max_document_bytes)
        if doc_id in seen:
            raise CorpusError(f"{where}: duplicate id {doc_id!r}; ids must be unique")
        seen.add(doc_id)
        docs.append(Document(id=doc_id, text=row["text"], **meta))
    return docs


def load_corpus(
    path: str | os.PathLike[str],
    *,
    max_document_bytes: int = MAX_DOCUMENT_BYTES,
    metadata: str | os.PathLike[str] | None = None,
    skipped: Counter[str] | None = None,
) -> list[Document]:
    """Load every document under ``path`` (a folder, a text file or a ``.jsonl`` file).

    Metadata comes from JSONL fields or front matter, then from the sidecar file
    ``metadata`` (JSONL of ``{"id", ...}``, field by field over the rest); an
    article still without a title takes its first line when that is a headline.

    Documents with no text besides white space are skipped, since they cannot be
    cited; a corpus with nothing left is an error. A document over
    ``max_document_bytes`` (UTF-8) is an error naming it: embedding it would take
    hours, and it is almost always a dump or a mistake rather than an article.
    What was passed over is added to ``skipped`` when given, by reason: hidden,
    not .txt or .md, with no text, a broken link, outside the corpus, a linked
    folder (not followed).
    """
    root = Path(path)
    skipped = Counter() if skipped is None else skipped
    if not root.exists():
        raise CorpusError(f"{root}: no such file or folder; pass the folder holding your .txt/.md files")
    if root.is_dir():
        docs = load_folder(root, max_document_bytes, skipped)
    elif root.suffix.lower() == ".jsonl":
        docs = load_jsonl(root, max_document_bytes)
    elif root.suffix.lower() in TEXT_SUFFIXES:
        docs = [read_article(root, check_doc_id(root.name, root.name), max_document_bytes)]
    else:
        raise CorpusError(f"{root}: expected a folder, a .txt/.md file or a .jsonl file")
    if metadata is not None:
        docs = apply_sidecar(docs, read_sidecar(metadata), Path(metadata).name)
    empty = sum(not d.text.strip() for d in docs)
    if empty:
        skipped["with no text"] += empty
    docs = [with_headline(d) for d in docs if d.text.strip()]
    if not docs:
        raise CorpusError(f"{root}: no non-empty .txt, .md or JSONL documents found")
    return docs

"""Load a corpus: a folder of ``.txt``/``.md`` files or a JSONL file.

Text is decoded from the bytes on disk as strict UTF-8 with no newline or
Unicode normalisation, so character offsets stay valid against the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import CorpusError
from .types import Document

TEXT_SUFFIXES = (".txt", ".md")
MAX_FILE_BYTES = 200 * 1024 * 1024


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


def read_text_file(path: Path, name: str) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CorpusError(f"{name}: {size} bytes is over the {MAX_FILE_BYTES}-byte limit; split the file")
        return decode_text(path.read_bytes(), name)
    except OSError as err:
        raise CorpusError(f"{name}: cannot be read ({err.strerror})") from None


def _walk_text_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(TEXT_SUFFIXES):
                path = Path(folder, name)
                try:
                    inside = path.resolve(strict=True).is_relative_to(root.resolve())
                except (OSError, RuntimeError):  # dangling link or a symlink loop
                    continue
                if inside:
                    found.append(path)
    return found


def load_folder(root: Path) -> list[Document]:
    docs = []
    for path in _walk_text_files(root):
        doc_id = path.relative_to(root).as_posix()
        docs.append(Document(id=doc_id, text=read_text_file(path, doc_id)))
    return docs


def load_jsonl(path: Path) -> list[Document]:
    """Read ``{"id", "text", "title"?}`` lines; ids must be unique strings."""
    docs: list[Document] = []
    seen: set[str] = set()
    text = read_text_file(path, path.name)
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise CorpusError(f"{where}: invalid JSON ({err.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise CorpusError(f'{where}: each line needs a string "text" (and an "id")')
        doc_id = str(row.get("id", row.get("_id", "")))
        if not doc_id:
            raise CorpusError(f'{where}: missing "id"')
        if doc_id in seen:
            raise CorpusError(f"{where}: duplicate id {doc_id!r}; ids must be unique")
        seen.add(doc_id)
        title = row.get("title")
        docs.append(Document(id=doc_id, text=row["text"], title=title if isinstance(title, str) else None))
    return docs


def load_corpus(path: str | os.PathLike[str]) -> list[Document]:
    """Load every document under ``path`` (a folder, a text file or a ``.jsonl`` file).

    Documents with no text besides white space are skipped, since they cannot be
    cited; a corpus with nothing left is an error.
    """
    root = Path(path)
    if not root.exists():
        raise CorpusError(f"{root}: no such file or folder; pass the folder holding your .txt/.md files")
    if root.is_dir():
        docs = load_folder(root)
    elif root.suffix.lower() == ".jsonl":
        docs = load_jsonl(root)
    elif root.suffix.lower() in TEXT_SUFFIXES:
        docs = [Document(id=root.name, text=read_text_file(root, root.name))]
    else:
        raise CorpusError(f"{root}: expected a folder, a .txt/.md file or a .jsonl file")
    docs = [d for d in docs if d.text.strip()]
    if not docs:
        raise CorpusError(f"{root}: no non-empty .txt, .md or JSONL documents found")
    return docs

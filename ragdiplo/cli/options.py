"""The command line's shared options, their defaults and each command's examples;
what the options ask for, checked: the store, the document limit, output paths."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ragdiplo.errors import ConfigError, ModelError, OutputError
from ragdiplo.ingest.corpus import MAX_DOCUMENT_BYTES

DEFAULT_CORPUS = "seeds"
DEFAULT_INDEX = "index"
DEFAULT_K = 10

RELATIVE = "relative to the current folder"
EXAMPLES = {
    "ragdiplo": """\
examples:
  ragdiplo index                          index seeds/ into index/ (both in the current folder)
  ragdiplo ask "What backstop did Starmer ask for?"
  ragdiplo repl                           ask questions interactively
  ragdiplo eval gold/seeds_holdout.jsonl --report report.html

Run `ragdiplo COMMAND -h` for a command's options.""",
    "index": """\
examples:
  ragdiplo index                          seeds/ into index/, or bring index/ up to date with it
  ragdiplo index my-news/ --index my-index/
  ragdiplo index docs.jsonl --index big/ --store milvus --milvus-uri big.db""",
    "ask": """\
examples:
  ragdiplo ask "How long was the partial truce proposed by Macron and Starmer?"
  ragdiplo ask "Who met Trump?" --index my-index/ -k 5
  ragdiplo ask "Who met Trump?" --json | python -m json.tool""",
    "eval": """\
examples:
  ragdiplo eval gold/seeds_holdout.jsonl --out predictions.jsonl --json metrics.json --report report.html
  ragdiplo eval dev-v1.1.json --json squad.json          a SQuAD file brings its own articles
  ragdiplo eval --compare before.json after.json""",
    "repl": """\
examples:
  ragdiplo repl                           ask the index in index/ (built from seeds/ when missing)
  ragdiplo repl --index my-index/ -k 5""",
}


def add_command(sub: Any, name: str, summary: str) -> argparse.ArgumentParser:
    """A subcommand whose help ends with its examples, printed as written."""
    return sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".",
                          epilog=EXAMPLES[name], formatter_class=argparse.RawDescriptionHelpFormatter)


def add_common_options(sp: argparse.ArgumentParser, index_help: str) -> None:
    sp.add_argument("--index", default=DEFAULT_INDEX, metavar="FOLDER", help=index_help)
    sp.add_argument("--model", default=None, metavar="FOLDER",
                    help="sentence-transformers model folder (default: the bundled all-MiniLM-L6-v2)")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars or status lines (default: shown)")
    sp.add_argument("--store", choices=["faiss", "milvus"], default=None,
                    help="vector store of a new index, or to move an index to (default: faiss, or the index's own)")
    sp.add_argument("--milvus-uri", default=None, metavar="URI",
                    help="Milvus Lite file (*.db) or server, e.g. http://host:19530 (default: none)")
    sp.add_argument("--milvus-collection", default=None, metavar="NAME", help="Milvus collection name (default: ragdiplo)")


def add_answer_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("-k", type=int, default=None, metavar="N",
                    help=f"passages to retrieve per question (default {DEFAULT_K}; more than the index has is cut, "
                         "with a note)")
    sp.add_argument("--rules", action="store_true",
                    help="answer with the sentence rules instead of the shipped reader model (default: the reader)")


def qa_config(args: argparse.Namespace) -> Any:
    """The answering settings the command line asks for."""
    from ragdiplo.answer.settings import QAConfig

    return QAConfig(reader=None) if getattr(args, "rules", False) else QAConfig()


def store_option(args: argparse.Namespace) -> Any:
    """The ``--store``/``--milvus-*`` choice as a ``StoreConfig``; None when no option
    was given (a new index uses FAISS, an existing one keeps its store)."""
    from ragdiplo.stores.faiss_store import StoreConfig, StoreKind

    uri, collection = getattr(args, "milvus_uri", None), getattr(args, "milvus_collection", None)
    kind = getattr(args, "store", None) or ("milvus" if uri or collection else None)
    return None if kind is None else StoreConfig(StoreKind(kind), uri, collection)


def describe_vector_index(info: dict[str, Any]) -> str:
    """One line on an approximate index: its type, parameters and measured recall."""
    params = ", ".join(f"{k}={info[k]}" for k in ("nlist", "nprobe", "pq_m", "pq_bits", "rerank") if k in info)
    return (
        f"approximate search: {info['type']} ({params}); recall@10 against exact search "
        f"{info['recall_at_10']:.3f} on {info['recall_queries']} sampled passages"
    )


def max_document_bytes(args: argparse.Namespace) -> int:
    """``--max-document-mb`` in bytes; the library's limit when it is not given."""
    mb = getattr(args, "max_document_mb", None)
    if mb is None:
        return MAX_DOCUMENT_BYTES
    if not 0 < mb < float("inf"):
        raise ConfigError(f"--max-document-mb must be a positive number of MiB (got {mb:g})")
    return int(mb * 2**20)


def check_model(args: argparse.Namespace) -> None:
    """``--model`` names a model folder: a path that does not exist is said to be
    one, before any loader reads it as a name to download."""
    model = getattr(args, "model", None)
    if model is not None and not os.path.isdir(model):
        what = "is not a folder" if os.path.exists(model) else "no such folder"
        raise ModelError(f"--model {model}: {what}; pass the folder of a sentence-transformers model, or leave "
                         "--model out for the bundled one")


def check_outputs(outputs: dict[str, str | None], inputs: Iterable[tuple[str, str | None]]) -> None:
    """Refuse, before anything is read or answered, an output (``outputs``: option ->
    path, None when not given) that could not be written afterwards: a folder, a
    file in a folder that does not exist or cannot be written, a regular file named
    twice; or one that is an input of the run (``inputs``: (what it is, path)),
    which it would overwrite. Paths are compared resolved, so a symlink or a ``..``
    names what it leads to; a file inside an input folder counts as that input."""
    seen: dict[str, str] = {}
    sources = list(inputs)
    for option, given in outputs.items():
        if given is None:
            continue
        for what, source in sources:
            if source is not None and _is_within(given, source):
                inside = "is" if Path(source).is_file() else "is inside"
                raise OutputError(f"{option} {given}: {inside} {what} {source}, an input of this run; "
                                  "writing it would overwrite the input; choose another path")
        real = Path(os.path.realpath(given))
        if real.is_dir():
            raise OutputError(f"{option} {given}: is a folder; name a file to write")
        if real.exists() and not real.is_file():  # a device or a FIFO: written in place, never replaced
            if not os.access(real, os.W_OK):
                raise OutputError(f"{option} {given}: cannot write there (permission denied); choose another path")
            continue
        where = real.parent
        if not where.is_dir():
            raise OutputError(f"{option} {given}: the folder {where} does not exist; create it or choose another path")
        if not os.access(where, os.W_OK | os.X_OK) or (real.exists() and not os.access(real, os.W_OK)):
            raise OutputError(f"{option} {given}: cannot write there (permission denied); choose another path")
        if str(real) in seen:
            raise OutputError(f"{seen[str(real)]} and {option} name the same file {given}; give each its own")
        seen[str(real)] = option


def check_index_folder(folder: str, inputs: dict[str, str | None]) -> None:
    """Refuse an index folder to be written that is, or holds, an input of the run:
    writing an index replaces files in its folder and removes stray ``data-*``
    folders there, which could be the corpus's own."""
    for what, source in inputs.items():
        if source is not None and _is_within(source, folder):
            raise OutputError(f"--index {folder}: holds {what} {source}; writing an index there could replace or "
                              "remove its files; choose a folder outside the inputs")


def _is_within(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """``path`` is ``folder`` itself (the same file, say through a hard link) or lies inside it, resolved."""
    real, base = os.path.realpath(path), os.path.realpath(folder)
    if real == base or real.startswith(base.rstrip(os.sep) + os.sep):
        return True
    try:
        return os.path.samefile(path, folder)
    except (OSError, ValueError):
        return False

"""The command line's shared options, their defaults and each command's examples."""

from __future__ import annotations

import argparse
from typing import Any

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
    from ragdiplo.answer.scoring import QAConfig

    return QAConfig(reader=None) if getattr(args, "rules", False) else QAConfig()

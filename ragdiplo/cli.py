"""Command line: ``ragdiplo index | ask | eval | repl``.

Each command is a few calls into the library. Errors the user can fix print
one line on stderr and exit with status 2; nothing prints a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._version import __version__
from .chunking import ChunkerConfig
from .errors import IndexNotFoundError, RagdiploError
from .types import Answer

DEFAULT_CORPUS = "seeds"
DEFAULT_INDEX = "index"


def _log(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


def _embedder(args: argparse.Namespace) -> Any:
    from .embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(args.model)


def build(args: argparse.Namespace, corpus: str, index_dir: str | None) -> Any:
    from .index import default_chunker
    from .pipeline import QA

    embedder = _embedder(args)
    chunker = default_chunker(embedder, getattr(args, "max_tokens", None), getattr(args, "overlap", None))
    qa = QA.build(corpus, index_dir, embedder=embedder, chunker=chunker, show_progress=not args.quiet)
    if index_dir is None:
        return qa
    m = qa.index.manifest
    _log(args, f"indexed {m['counts']['documents']} documents as {m['counts']['passages']} passages in {index_dir}/")
    return qa


def open_qa(args: argparse.Namespace) -> Any:
    """Load the index; the default one is built from seeds/ when missing."""
    from .index import load_index
    from .pipeline import QA

    try:
        index = load_index(args.index)
    except IndexNotFoundError:
        if args.index != DEFAULT_INDEX or not Path(DEFAULT_CORPUS).is_dir():
            raise
        _log(args, f"no index in {DEFAULT_INDEX}/: building it from {DEFAULT_CORPUS}/ first")
        return build(args, DEFAULT_CORPUS, DEFAULT_INDEX)
    return QA(index, _embedder(args), index_path=args.index)


def format_answer(answer: Answer) -> str:
    lines = [f"Answer: {answer.text if answer.text is not None else '(no answer found in the corpus)'}"]
    lines.append(f"Confidence: {answer.confidence:.2f}")
    for i, c in enumerate(answer.citations, 1):
        lines.append(f"[{i}] {c.doc_id}:{c.start}-{c.end}  {c.text}")
        for d, s, e in c.duplicates:
            lines.append(f"     also at {d}:{s}-{e}")
    return "\n".join(lines)


def cmd_index(args: argparse.Namespace) -> int:
    build(args, args.corpus, args.index)
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    answer = open_qa(args).ask(args.question, k=args.k)
    if args.json:
        out = answer.to_dict()
        out["citations"] = [{k: v for k, v in c.items() if k != "duplicates"} for c in out["citations"]]
        print(json.dumps(out, ensure_ascii=False, indent=1))
    else:
        print(format_answer(answer))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .evaluate import predict, read_gold, score, write_jsonl
    qa = build(args, args.corpus, None) if args.corpus else open_qa(args)
    gold = read_gold(args.gold, {d.id: d for d in qa.index.documents})
    rows = predict(gold, lambda q: qa.ask(q, k=args.k), lambda xs: tqdm(xs, disable=args.quiet, desc="questions"))
    if args.out:
        write_jsonl(rows, args.out)
    metrics = score(gold, rows)
    width = max(map(len, metrics))
    for name, value in metrics.items():
        print(f"{name:<{width}}  {value:.4f}" if isinstance(value, float) else f"{name:<{width}}  {value}")
    return 0


def cmd_repl(args: argparse.Namespace) -> int:
    from .repl import run

    return run(open_qa(args), k=args.k)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ragdiplo", description="Offline question answering with exact citations.")
    p.add_argument("--version", action="version", version=f"ragdiplo {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--index", default=DEFAULT_INDEX, help="index folder (default: index/)")
        sp.add_argument("--model", default=None, help="sentence-transformers model folder (default: bundled MiniLM)")
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars or status lines")

    sp = sub.add_parser("index", help="build an index from a corpus folder or JSONL file")
    sp.add_argument("corpus", nargs="?", default=DEFAULT_CORPUS)
    sp.add_argument("--max-tokens", type=int, default=None, help=f"passage size in model tokens (default {ChunkerConfig().max_tokens})")
    sp.add_argument("--overlap", type=int, default=None, help=f"overlap in model tokens (default {ChunkerConfig().overlap_tokens})")
    common(sp)
    sp.set_defaults(func=cmd_index)

    sp = sub.add_parser("ask", help="answer one question")
    sp.add_argument("question")
    sp.add_argument("-k", type=int, default=10, help="passages to retrieve")
    sp.add_argument("--json", action="store_true", help="print the answer as JSON")
    common(sp)
    sp.set_defaults(func=cmd_ask)

    sp = sub.add_parser("eval", help="evaluate on a gold JSONL question set")
    sp.add_argument("gold")
    sp.add_argument("--out", help="write predictions JSONL here")
    sp.add_argument("--corpus", help="build a temporary index of this corpus instead of using --index")
    sp.add_argument("-k", type=int, default=10)
    common(sp)
    sp.set_defaults(func=cmd_eval)

    sp = sub.add_parser("repl", help="ask questions interactively")
    sp.add_argument("-k", type=int, default=10)
    common(sp)
    sp.set_defaults(func=cmd_repl)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except RagdiploError as err:
        print(f"ragdiplo: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ragdiplo: interrupted", file=sys.stderr)
        return 130

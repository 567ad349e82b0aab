"""Command line: ``ragdiplo index | ask | eval | repl``.

Each command is a few calls into the library. Errors the user can fix print
one line on stderr and exit with status 2; nothing prints a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from ragdiplo._version import __version__
from ragdiplo.cli import terminal
from ragdiplo.cli.filters import add_filter_options, add_metadata_option, where_option
from ragdiplo.cli.format import format_answer, style_for, withheld_reason
from ragdiplo.cli.options import (
    DEFAULT_CORPUS,
    DEFAULT_INDEX,
    EXAMPLES,
    RELATIVE,
    add_answer_options,
    add_command,
    add_common_options,
    check_index_folder,
    check_model,
    check_outputs,
    max_document_bytes,
    qa_config,
    store_option,
)
from ragdiplo.cli.progress import Stages, index_summary, library_notices, sync_in_stages
from ragdiplo.cli.terminal import INTERNAL_ERROR
from ragdiplo.durable import DEFAULT_LOCK_TIMEOUT
from ragdiplo.errors import ConfigError, IndexNotFoundError, RagdiploError
from ragdiplo.ingest.chunking import ChunkerConfig
from ragdiplo.ingest.corpus import MAX_DOCUMENT_BYTES


def _log(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


def _embedder(args: argparse.Namespace, model_id: str | None = None) -> Any:
    """The model for this command. Building uses the default backend (OpenVINO,
    or ``$RAGDIPLO_BACKEND``), except that ``ragdiplo index`` on an index of the
    bundled model (or of ``--model``) prefers the backend and precision it
    records: an update then equals a rebuild bit for bit. Other commands only
    embed questions: ``query_embedder``, the quickest to start. ``model_id``: the
    index's, when the caller has loaded it (the manifest is not read again)."""
    from ragdiplo.embed.base import DEFAULT_MODEL_ID
    from ragdiplo.embed.factory import default_embedder, index_embedder, query_embedder

    index, command, recorded = getattr(args, "index", None), getattr(args, "command", None), None
    if (model_id is None or command == "index") and index is not None and (Path(index) / "manifest.json").is_file():
        from ragdiplo.index.load import model_of, read_manifest

        try:
            recorded = model_of(read_manifest(index))
        except (RagdiploError, KeyError, TypeError, ValueError):
            pass  # unreadable: `ragdiplo index` rebuilds it with the default model, `ask` says what is wrong
    model_id = recorded[0] if recorded else model_id
    if command == "index" and recorded and (args.model is not None or recorded[0] == DEFAULT_MODEL_ID):
        return index_embedder(*recorded, args.model)
    if command == "index" or not isinstance(model_id, str):
        return default_embedder(args.model)
    return query_embedder(model_id, args.model)


def build(args: argparse.Namespace, corpus: str, index_dir: str | None) -> Any:
    """Index ``corpus`` in memory, or bring the index folder ``index_dir`` up to
    date with it: only new and changed documents are embedded. Each stage says on
    stderr when it starts (``progress.Stages``), out of 3 in memory or 5 in a folder."""
    from ragdiplo.index.build import build_index, check_chunker, default_chunker
    from ragdiplo.ingest.corpus import load_corpus
    from ragdiplo.qa import QA

    stage = Stages(3 if index_dir is None else 5, quiet=args.quiet)
    stage(f"reading {corpus}")  # the corpus first: bad input fails before the model takes seconds to load
    skipped: Counter[str] = Counter()
    documents = load_corpus(corpus, max_document_bytes=max_document_bytes(args), metadata=getattr(args, "metadata", None),
                            skipped=skipped)
    stage("loading the embedding model")
    embedder = _embedder(args)
    max_tokens, overlap = getattr(args, "max_tokens", None), getattr(args, "overlap", None)
    chunker = None  # None: keep the index's own chunker
    if (max_tokens, overlap) != (None, None):
        chunker = check_chunker(embedder, default_chunker(embedder, max_tokens, overlap))
    if index_dir is None:
        if store_option(args) is not None:
            raise ConfigError("--store and --milvus-* apply to an index folder; use --index instead of --corpus")
        stage(f"chunking and embedding {len(documents)} documents")
        return QA(build_index(documents, embedder, chunker, show_progress=not args.quiet), embedder, qa_config(args))
    index, changes = sync_in_stages(index_dir, documents, embedder, chunker, stage, corpus=corpus, store=store_option(args),
                                    lock_timeout=getattr(args, "lock_timeout", DEFAULT_LOCK_TIMEOUT))
    for line in index_summary(index, changes, index_dir, skipped):
        _log(args, line)
    return QA(index, embedder, qa_config(args), index_path=index_dir)


def resolve_k(args: argparse.Namespace, size: int) -> int:
    """``-k`` cut to the index's size; a k the user chose is cut with a note, as in Python and the REPL."""
    from ragdiplo.qa import clamp_k

    k, note = clamp_k(args.k, size)
    if note:
        _log(args, f"note: {note}")
    return k


def open_qa(args: argparse.Namespace) -> Any:
    """Load the index; the default one is built from seeds/ when missing."""
    from ragdiplo.index.load import load_index
    from ragdiplo.qa import QA

    try:
        index = load_index(args.index, store=store_option(args))
    except IndexNotFoundError:
        if args.index != DEFAULT_INDEX or not Path(DEFAULT_CORPUS).is_dir():
            raise
        _log(args, f"no index in {DEFAULT_INDEX}/: building it from {DEFAULT_CORPUS}/ first")
        return build(args, DEFAULT_CORPUS, DEFAULT_INDEX)
    return QA(index, _embedder(args, index.model_id), qa_config(args), index_path=args.index)


def cmd_index(args: argparse.Namespace) -> int:
    check_index_folder(args.index, {"the corpus": args.corpus, "the metadata file": args.metadata})
    build(args, args.corpus, args.index)
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    qa = open_qa(args)
    answer = qa.ask(args.question, k=resolve_k(args, len(qa.index)), where=where_option(args))
    threshold = qa.config.calibration.threshold
    if args.json:
        out = answer.to_dict()
        out["citations"] = [{k: v for k, v in c.items() if k != "duplicates"} for c in out["citations"]]
        if answer.text is None:  # keys are only ever added: scripts read the others
            out["withheld"] = withheld_reason(answer, threshold)
        print(terminal.escape_json(json.dumps(out, ensure_ascii=False, indent=1)))
    else:
        def render(style: Any) -> str:
            return format_answer(answer, title=document_title(qa), threshold=threshold, style=style)

        print(terminal.safe_render(render, style_for(sys.stdout)))
    return 0


def document_title(qa: Any) -> Any:
    """``doc_id -> title`` for citations: the document's title, None when it has none."""
    return lambda doc_id: qa.index.document(doc_id).title


def cmd_eval(args: argparse.Namespace) -> int:
    """Score a gold JSONL, SQuAD JSON or BEIR input; or compare two ``--json`` results."""
    from ragdiplo.eval.datasets import InputKind, input_kind

    outputs = {"--out": args.out, "--json": args.json, "--report": args.report, "--run": args.run}
    if args.compare:
        from ragdiplo.eval.compare import compare_files

        check_outputs(outputs, [("a compared run", path) for path in args.compare])
        if any(outputs.values()):
            raise ConfigError(f"--compare writes nothing; {next(o for o, p in outputs.items() if p)} does not apply")
        print(compare_files(args.compare[0], args.compare[1], show=terminal.escape_line))
        return 0
    if not args.gold:
        raise ConfigError("eval needs a gold .jsonl, a SQuAD .json or a BEIR folder (or --compare A.json B.json)")
    kind = input_kind(args.gold, args.split)
    _check_eval_args(args, kind, outputs)
    qa, result, files, settings = (_eval_beir if kind is InputKind.BEIR else _eval_answers)(args, kind)
    from ragdiplo.durable import sha256_file
    from ragdiplo.eval.report import answerer_record
    from ragdiplo.eval.run import format_metrics, run_info, to_json, write_json, write_jsonl

    inputs = {"kind": kind.value, "path": str(args.gold), "sha256": {p.name: sha256_file(p) for p in files}}
    if kind is InputKind.BEIR:
        inputs["split"] = args.split
    info = run_info(qa.index, args.index, settings, inputs)
    if kind is not InputKind.BEIR:  # new keys: what answered (reader or rules) and the reader's model file
        info.update(answerer_record(qa.config.reader))
    if args.out:
        write_jsonl(result.predictions, args.out)
        _log(args, f"wrote {len(result.predictions)} predictions to {args.out}")
    if args.json:
        write_json(to_json(info, result), args.json)
        _log(args, f"wrote metrics, settings and per-question outcomes to {args.json}")
    if args.report:
        from ragdiplo.eval.report import write_report

        write_report(args.report, info, result, qa.index)
        _log(args, f"wrote the HTML report to {args.report}")
    print(format_metrics(result.metrics))
    return 0


def _check_eval_args(args: argparse.Namespace, kind: Any, outputs: dict[str, str | None]) -> None:
    """Options that do not apply to the input, outputs that could not be written
    or would overwrite an input, and a bad gold file: refused before anything runs."""
    from ragdiplo.eval.datasets import InputKind, check_gold

    if kind is not InputKind.GOLD and args.corpus:
        raise ConfigError(f"--corpus applies to gold JSONL; a {kind.value} input brings its own documents")
    if args.run is not None and kind is not InputKind.BEIR:
        raise ConfigError("--run writes the TREC run of a BEIR evaluation; the input is not a BEIR folder")
    if kind is InputKind.BEIR and where_option(args) is not None:
        raise ConfigError("a BEIR evaluation ranks the whole corpus: --since/--until/--source/--tag do not apply")
    if kind is InputKind.BEIR and (args.out or args.k is not None):
        raise ConfigError("a BEIR evaluation ranks documents only: --out and -k do not apply (use --run FILE)")
    gold = ("the gold folder" if kind is InputKind.BEIR else "the gold file", args.gold)
    index = args.index or (DEFAULT_INDEX if kind is InputKind.GOLD and not args.corpus else None)
    check_outputs(outputs, [gold, ("the corpus", args.corpus), ("the metadata file", args.metadata),
                            ("the index folder", index)])  # fmt: skip
    if kind is not InputKind.GOLD and args.index is not None:  # the input's own index is written there
        check_index_folder(args.index, dict([gold]))
    if kind is InputKind.GOLD:
        check_gold(args.gold)  # the whole file, before the index is loaded or a question answered


def _eval_answers(args: argparse.Namespace, kind: Any) -> tuple[Any, Any, list[Path], dict[str, Any]]:
    """Answer every gold question (gold JSONL or SQuAD) and score the answers."""
    from tqdm import tqdm

    from ragdiplo.eval.datasets import InputKind, read_squad
    from ragdiplo.eval.run import predict, read_gold, score_answers

    if kind is InputKind.SQUAD:
        documents, gold = read_squad(args.gold)
        qa = _dataset_qa(args, documents)
    else:
        if args.corpus:
            qa = build(args, args.corpus, None)
        else:
            args.index = args.index or DEFAULT_INDEX
            qa = open_qa(args)
        gold = read_gold(args.gold, {i: qa.index.document(i) for i in qa.index.ids})
    k = resolve_k(args, len(qa.index))
    where = where_option(args)
    rows = predict(gold, lambda qs: qa.ask_iter(qs, k, where=where), lambda xs: tqdm(xs, disable=args.quiet, desc="questions"))
    return qa, score_answers(gold, rows), [Path(args.gold)], {"k": k, "qa": qa.config, "where": where}


def _eval_beir(args: argparse.Namespace, kind: Any) -> tuple[Any, Any, list[Path], dict[str, Any]]:
    """Rank the corpus for every judged query of the split; write the TREC run."""
    from functools import partial

    from tqdm import tqdm

    from ragdiplo.embed.base import embed_question
    from ragdiplo.eval.datasets import read_beir
    from ragdiplo.eval.run import RUN_DEPTH, rank_queries, score_ranking, write_trec

    beir = read_beir(args.gold, args.split)
    qa = _dataset_qa(args, beir.documents)
    def progress(xs: Any) -> Any:
        return tqdm(xs, disable=args.quiet, desc="queries")

    ranking, latency = rank_queries(qa.index, partial(embed_question, qa.embedder), beir.queries, qa.config.retrieval,
                                    progress)
    if args.run:
        write_trec(ranking, args.run)
        _log(args, f"wrote the TREC run of {len(ranking)} queries to {args.run}")
    root = Path(args.gold)
    files = [root / "corpus.jsonl", root / "queries.jsonl", root / "qrels" / f"{args.split}.tsv"]
    return qa, score_ranking(beir, ranking, latency), files, {"depth": RUN_DEPTH, "retrieval": qa.config.retrieval}


def _dataset_qa(args: argparse.Namespace, documents: list[Any]) -> Any:
    """The index of a SQuAD or BEIR input's own documents: in memory, or in the
    folder given with ``--index`` (built there once, then reused). The default
    index/ is never touched, and a folder holding other documents is refused."""
    from ragdiplo.index.build import build_index, corpus_sha256
    from ragdiplo.index.load import load_index, read_manifest
    from ragdiplo.index.update import edit_index
    from ragdiplo.qa import QA

    if args.index is None:
        embedder = _embedder(args)
        return QA(build_index(documents, embedder, show_progress=not args.quiet), embedder, qa_config(args))
    expected = {d.id: d.sha256 for d in documents}
    if (Path(args.index) / "manifest.json").is_file():
        manifest = read_manifest(args.index)
        if manifest.get("corpus_sha256") != corpus_sha256(expected):
            raise ConfigError(f"{args.index}: this index holds other documents than the input; "
                              "pass an empty or new folder with --index, or leave --index out")
        index = load_index(args.index)
        return QA(index, _embedder(args, index.model_id), qa_config(args), index_path=args.index)
    embedder = _embedder(args)
    with edit_index(args.index, embedder, show_progress=not args.quiet) as editor:
        editor.sync(documents)
    _log(args, f"indexed {len(editor.index.ids)} documents in {args.index}/ for this evaluation")
    return QA(editor.index, embedder, qa_config(args), index_path=args.index)


def cmd_repl(args: argparse.Namespace) -> int:
    from ragdiplo.cli.repl import run

    qa = open_qa(args)
    return run(qa, k=resolve_k(args, len(qa.index)), where=where_option(args))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ragdiplo", description="Offline question answering with exact citations.",
                                epilog=EXAMPLES["ragdiplo"], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"ragdiplo {__version__}")
    def bare(args: argparse.Namespace) -> int:  # bare `ragdiplo`: the help, not an error
        p.print_help()
        return 0

    p.set_defaults(func=bare)
    sub = p.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    index_help = f"index folder (default: {DEFAULT_INDEX}/, {RELATIVE})"

    sp = add_command(sub, "index", "build or update an index from a corpus folder or JSONL file")
    sp.add_argument("corpus", nargs="?", default=DEFAULT_CORPUS,
                    help=f"folder of .txt/.md files, or a JSONL file of {{id, text, title?}} (default: {DEFAULT_CORPUS}/, "
                         f"{RELATIVE})")
    sp.add_argument("--max-tokens", type=int, default=None, metavar="N",
                    help=f"passage size in model tokens (default {ChunkerConfig().max_tokens}, or the index's own)")
    sp.add_argument("--overlap", type=int, default=None, metavar="N",
                    help=f"overlap of passages in model tokens (default {ChunkerConfig().overlap_tokens}, or the index's own)")
    add_metadata_option(sp)
    sp.add_argument("--max-document-mb", type=float, default=None, metavar="MB",
                    help=f"refuse documents larger than this (default {MAX_DOCUMENT_BYTES / 2**20:g} MiB)")
    sp.add_argument("--lock-timeout", type=float, default=DEFAULT_LOCK_TIMEOUT, metavar="SECONDS",
                    help=f"seconds to wait for another process writing the index (default {DEFAULT_LOCK_TIMEOUT:g})")
    add_common_options(sp, index_help)
    sp.set_defaults(func=cmd_index)

    sp = add_command(sub, "ask", "answer one question, citing the sentences it rests on")
    sp.add_argument("question", help="the question, quoted")
    add_answer_options(sp)
    sp.add_argument("--json", action="store_true", help="print the answer as JSON (default: text)")
    add_filter_options(sp)
    add_common_options(sp, index_help + "; built from seeds/ when both are the defaults and it is missing")
    sp.set_defaults(func=cmd_ask)

    sp = add_command(sub, "eval", "evaluate on a gold JSONL, SQuAD JSON or BEIR question set")
    sp.add_argument("gold", nargs="?", help="gold .jsonl, SQuAD v1.1 .json, or a BEIR folder (needed unless --compare)")
    sp.add_argument("--out", metavar="FILE", help="write predictions JSONL here (default: not written)")
    sp.add_argument("--corpus", metavar="PATH",
                    help="gold JSONL: build a temporary index of this corpus instead of using --index (default: none)")
    add_metadata_option(sp)
    add_answer_options(sp)
    sp.add_argument("--split", default="test", help="BEIR qrels split (default: test)")
    sp.add_argument("--run", metavar="FILE",
                    help="BEIR: write the TREC run file (top 100 documents per query) here (default: not written)")
    sp.add_argument("--json", metavar="FILE",
                    help="write all metrics, settings, hashes and per-question outcomes here (default: not written)")
    sp.add_argument("--report", metavar="FILE", help="write a self-contained HTML report here (default: not written)")
    sp.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="compare two --json results (default: none)")
    add_filter_options(sp)
    add_common_options(sp, f"index folder (default: {DEFAULT_INDEX}/, {RELATIVE}, for gold JSONL; a SQuAD or BEIR input "
                "is indexed in memory unless this is given)")
    sp.set_defaults(func=cmd_eval, index=None)  # None: index/ for gold JSONL; SQuAD/BEIR never use it

    sp = add_command(sub, "repl", "ask questions interactively")
    add_answer_options(sp)
    add_filter_options(sp)
    add_common_options(sp, index_help + "; built from seeds/ when both are the defaults and it is missing")
    sp.set_defaults(func=cmd_repl)
    return p


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done; 2 an error the user can fix (one line says what to do);
    3 an unexpected internal error (one line, the traceback saved to a file to
    report); 130 interrupted; 141 the reader of the output went away."""
    args = parser().parse_args(argv)
    try:
        terminal.check_input(args)
        check_model(args)
        with library_notices(shown=not getattr(args, "quiet", False)):  # e.g. the embedding model prepared once
            return int(args.func(args))
    except RagdiploError as err:
        print(f"ragdiplo: error: {terminal.escape_line(err.cli_message or str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ragdiplo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of stdout went away (`ragdiplo eval ... | head`): stop quietly, as Unix tools do
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # stdout is not a file (an embedding program captured it)
            pass
        return 141
    except Exception:  # a bug: one line, and the traceback kept for the report
        print(terminal.internal_error_line(), file=sys.stderr)
        return INTERNAL_ERROR

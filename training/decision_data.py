"""Candidate answers with their features and labels, for fitting the decision.

Two kinds of runs, each written as one ``.npz`` per set under ``--out``:

* ``qa-train``: open retrieval over small corpora built from qa-train. Each
  article (all contexts of one title, joined by blank lines) is a document;
  titles are grouped into corpora of ``--titles-per-corpus`` articles, indexed
  with the real embedder, and every question of those titles is asked over its
  corpus. A candidate is right when it lies in the question's article, overlaps
  the gold answer's place there and has token F1 >= 0.5 with it. Near-miss
  questions (``training/near_miss.py``) of the same titles are asked too: none
  of their candidates is right. ``--titles held-out`` takes only the titles the
  shipped reader never trained on (``windows.is_validation``);
  ``--titles near-miss-band`` the near-miss questions of the further band of
  titles whose near-miss questions were never trained on (their answerable
  ones were); ``--titles trained`` a seeded sample of trained titles.
* ``gold``: a ragdiplo gold file over its corpus (seeds dev, SQuAD dev-open...):
  a candidate is right when it holds a gold answer and its sentence overlaps
  the evidence, as ``ragdiplo eval`` counts "correct with citation".

    python training/decision_data.py qa-train --titles held-out --out training/runs/decision
    python training/decision_data.py gold ../shared/gold/seeds_dev.jsonl seeds --out training/runs/decision
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import random
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from common import ranked_candidates
from near_miss import is_held_out
from windows import is_validation

from ragdiplo import QA, QAConfig
from ragdiplo.answer.candidates import FEATURES, Candidate
from ragdiplo.eval.datasets import Evidence, read_gold
from ragdiplo.eval.metrics import contains_answer, token_f1
from ragdiplo.eval.run import overlaps

QA_TRAIN = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "qa-train" / "qa_train.jsonl.xz"


class Table:
    """Candidate rows of one set, with the question each belongs to."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Any]] = defaultdict(list)
        self.questions: dict[str, list[Any]] = defaultdict(list)

    def add(self, qid: str, answerable: bool, found: list[Candidate], label: Any) -> None:
        self.questions["qid"].append(qid)
        self.questions["answerable"].append(answerable)
        for c in found:
            right, f1, contains, cites = label(c)
            self.rows["qid"].append(qid)
            self.rows["features"].append(c.features)
            self.rows["right"].append(right)
            self.rows["f1"].append(f1)
            self.rows["contains"].append(contains)
            self.rows["cites"].append(cites)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        features = np.array(self.rows["features"], dtype=np.float64).reshape(-1, len(FEATURES))
        np.savez_compressed(
            path, features=features, feature_names=np.array(FEATURES),
            qid=np.array(self.rows["qid"]), right=np.array(self.rows["right"], dtype=bool),
            f1=np.array(self.rows["f1"]), contains=np.array(self.rows["contains"], dtype=bool),
            cites=np.array(self.rows["cites"], dtype=bool), question_ids=np.array(self.questions["qid"]),
            answerable=np.array(self.questions["answerable"], dtype=bool),
        )  # fmt: skip
        print(f"{path}: {len(self.questions['qid'])} questions, {len(features)} candidates", flush=True)


def qa_train(args: argparse.Namespace) -> None:
    examples = [json.loads(line) for line in lzma.open(args.data, "rt")]
    near = [json.loads(line) for line in open(args.near_miss)] if args.near_miss else []
    titles = sorted({e["title"] for e in examples})
    if args.titles == "held-out":
        chosen = [t for t in titles if is_validation(t)]
    elif args.titles == "near-miss-band":  # near-miss questions never trained on, over articles the reader read
        chosen = sorted({e["title"] for e in near if is_held_out(e["title"]) and not is_validation(e["title"])})
    else:
        rng = random.Random(args.seed)
        wanted = set(args.sources.split(",")) if args.sources else None
        sources = {e["title"]: e["source"] for e in examples}
        pool = [t for t in titles if not is_held_out(t) and (wanted is None or sources[t] in wanted)]
        chosen = rng.sample(pool, min(args.sample, len(pool)))
    by_title: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in examples:
        by_title[e["title"]].append(e)
    near_by_title: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in near:
        if args.titles != "trained" and not is_held_out(e["title"]):
            continue
        near_by_title[e["title"]].append(e)
    rng = random.Random(args.seed)
    rng.shuffle(chosen)
    table = Table()
    config = QAConfig()
    embedder = None
    for g in range(0, len(chosen), args.titles_per_corpus):
        group = chosen[g : g + args.titles_per_corpus]
        docs, where = [], {}
        for t in group:
            contexts = list(dict.fromkeys(e["context"] for e in by_title[t]))
            starts, pos = {}, 0
            for c in contexts:
                starts[c] = pos
                pos += len(c) + 2
            doc_id = f"t{g + len(docs):04d}"
            docs.append({"id": doc_id, "title": t, "text": "\n\n".join(contexts)})
            where[t] = (doc_id, starts)
        corpus = Path(args.out) / "corpora" / f"{args.titles}-{g:04d}.jsonl"
        corpus.parent.mkdir(parents=True, exist_ok=True)
        corpus.write_text("".join(json.dumps(d) + "\n" for d in docs))
        qa = QA.build(corpus, embedder=embedder, config=config)
        embedder = qa.embedder
        row_of = {d.id: i for i, d in enumerate(qa.index.documents)}
        for t in group:
            doc_id, starts = where[t]
            asked = [e for e in by_title[t] if not e["is_impossible"] and e["answers"]]
            if args.titles == "near-miss-band":
                asked = []
            if args.per_title:
                asked = asked[: args.per_title]
            for e in asked:
                answers = [a["text"] for a in e["answers"]]
                places = [(starts[e["context"]] + a["answer_start"], len(a["text"])) for a in e["answers"]]

                def label(c: Candidate, answers: list[str] = answers, places: list[tuple[int, int]] = places,
                          doc_id: str = doc_id, qa: QA = qa, row_of: dict[str, int] = row_of,
                          ) -> tuple[bool, float, bool, bool]:  # fmt: skip
                    text = qa.index.documents[c.doc_row].text[c.start : c.end]
                    f1 = token_f1(text, answers)
                    here = c.doc_row == row_of[doc_id] and any(c.start < s + n and s < c.end for s, n in places)
                    return here and f1 >= 0.5, f1, contains_answer(text, answers), here

                table.add(e["id"], True, ranked_candidates(qa, e["question"], config), label)
            for e in near_by_title.get(t, [])[: args.per_title or None]:
                table.add(e["id"], False, ranked_candidates(qa, e["question"], config), lambda c: (False, 0.0, False, False))
        print(f"corpus {g // args.titles_per_corpus}: {len(table.questions['qid'])} questions so far", flush=True)
    table.save(Path(args.out) / f"qa-train-{args.titles}{'-' + args.name if args.name else ''}.npz")


def gold(args: argparse.Namespace) -> None:
    from common import open_qa

    config = QAConfig()
    qa = open_qa(args.corpus, None, config)
    questions = read_gold(args.gold, {d.id: d for d in qa.index.documents})[: args.limit]
    table = Table()
    for q in questions:
        evidence: tuple[Evidence, ...] = q.evidence

        def label(
            c: Candidate, q: Any = q, evidence: tuple[Evidence, ...] = evidence
        ) -> tuple[bool, float, bool, bool]:
            doc = qa.index.documents[c.doc_row]
            text = doc.text[c.start : c.end]
            first = qa.index.sentence_at(c.doc_row, c.start)
            last = max(first, qa.index.sentence_at(c.doc_row, c.end - 1))
            s, e = int(qa.index.sentence_rows[first, 1]), int(qa.index.sentence_rows[last, 2])
            cites = overlaps(doc.id, s, e, evidence) if evidence else False
            contains = contains_answer(text, q.answers) if q.answers else False
            return contains and cites, token_f1(text, q.answers) if q.answers else 0.0, contains, cites

        table.add(q.id, bool(q.answers), ranked_candidates(qa, q.question, config), label)
    table.save(Path(args.out) / f"{args.name or Path(args.gold).stem}.npz")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    t = sub.add_parser("qa-train")
    t.add_argument("--data", default=str(QA_TRAIN))
    t.add_argument("--near-miss", default="training/runs/near_miss.jsonl")
    t.add_argument("--titles", choices=["held-out", "near-miss-band", "trained"], default="held-out")
    t.add_argument("--sample", type=int, default=120, help="titles, with --titles trained")
    t.add_argument("--sources", help="with --titles trained: only titles of these comma-separated sources")
    t.add_argument("--per-title", type=int, default=0, help="at most this many questions a title (0: all)")
    t.add_argument("--titles-per-corpus", type=int, default=12)
    t.add_argument("--seed", type=int, default=13)
    t.add_argument("--name", help="added to the output file's name")
    t.add_argument("--out", default="training/runs/decision")
    g = sub.add_parser("gold")
    g.add_argument("gold")
    g.add_argument("corpus")
    g.add_argument("--name")
    g.add_argument("--limit", type=int)
    g.add_argument("--out", default="training/runs/decision")
    args = parser.parse_args(argv)
    qa_train(args) if args.kind == "qa-train" else gold(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

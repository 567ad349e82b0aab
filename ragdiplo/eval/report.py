"""``eval --report``: one self-contained HTML page to look at a run.

Inline CSS and inline SVG only (no scripts, no external URLs), so the page
opens anywhere, offline, and can be mailed or archived as one file. Every text
taken from the corpus or the questions is HTML-escaped. Failed questions come
first, each folded into a ``<details>`` so thousands of them stay usable.

The header names what answered (reader and its model file, or the rules) and the
embedding model; a question's line shows its verdict (pass, partial, fail), its
token F1 and whether the corpus answers it; each plot has a line on reading it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from ragdiplo.durable import sha256_file
from ragdiplo.eval.metrics import normalize_answer
from ragdiplo.eval.run import Evaluation, write_output
from ragdiplo.index.build import Index

CONTEXT_CHARS = 160  # source text shown on each side of a highlighted span
LEGEND = ('<span class="pass">pass</span> the answer contains a gold answer and a citation overlaps its evidence, '
          'or, for an <span class="tag">unanswerable</span> question (the corpus does not answer it), no answer is given; '
          '<span class="partial">partial</span> a failure whose answer is a shorter part of a gold answer '
          '(“three” for “three days”); <span class="fail">fail</span> any other; '
          "F1: word overlap with the closest gold answer (1.00: the same words).<br>"
          '<mark>cited span</mark> with the <span class="ga">gold answer</span> marked inside it, and '
          '<mark class="gold">gold evidence</mark> where no citation reached it, inside their source text.')
# One line under each plot on how to read it, by curve name.
GUIDES = {
    "recall@k": "Each point: of each query's relevant documents, the share found in its first k results (y), "
                "for k results (x), averaged over the queries. Higher is better.",
    "hit@k": "Each point: the share of answerable questions (y) whose evidence is in the first k passages "
             "retrieved (x). Higher is better; a line that rises early needs fewer passages.",
    "risk_coverage": "Each point: answer only the most confident share of questions (x); the line shows how many "
                     "of those answers are wrong (y, a share; an unanswerable question counts as wrong). Lower is better.",
    "latency_ms": "Each bar: how many {items} (y) took that many milliseconds (x). Bars to the left are quicker; "
                  "one far to the right is a slow {item}.",
}
# What each metric of the summary means; a metric missing here is shown without a note.
METRIC_NOTES = {
    "questions": "gold questions asked",
    "queries": "judged queries ranked",
    "answerable": "questions the corpus answers (they are the denominator of the rates below)",
    "hit@1": "the evidence (gold) or a relevant document is in the first retrieved result",
    "hit@5": "… in the top 5 results",
    "hit@10": "… in the top 10 results",
    "recall@1": "share of the relevant documents found in the first result",
    "recall@5": "share of the relevant documents found in the top 5",
    "recall@10": "share of the relevant documents found in the top 10",
    "recall@100": "share of the relevant documents found in the top 100",
    "mrr@10": "mean of 1/rank of the first result holding the evidence (0 beyond rank 10)",
    "ndcg@10": "ranking quality of the top 10 against the graded judgements (1 = ideal order)",
    "answer_accuracy": "the answer contains a gold answer (after normalising case and punctuation)",
    "citation_accuracy": "a citation overlaps the gold evidence",
    "correct_with_citation": "both: a right answer cited from its evidence (the pass rule)",
    "exact_match": "the answer equals a gold answer after normalising",
    "token_f1": "word-overlap F1 between the answer and the closest gold answer",
    "citation_precision": "share of the cited characters inside gold evidence (questions with citations)",
    "citation_recall": "share of the gold evidence's characters that were cited",
    "mean_answer_chars": "mean length of the answers given, in characters",
    "unanswerable": "questions the corpus does not answer",
    "abstention_accuracy": "unanswerable questions left unanswered (higher is better)",
    "false_abstention": "answerable questions left unanswered (lower is better)",
    "reports_differ": "share of questions whose answer lists differing dated reports from several articles",
    "aurc": "area under the risk–coverage curve: mean error rate as answers are added most confident first "
            "(lower is better)",
    "latency_p50_ms": "median time per question, in milliseconds",
    "latency_p95_ms": "95th percentile of the time per question, in milliseconds",
}
RANKING_LEGEND = "<mark>relevant documents</mark> in each query's top 10; a query passes when one is there"
OPEN_FAILURES = 3  # failed questions shown unfolded at the top
W, H, PAD = 300, 200, 40  # plot size and margin, in SVG units: three plots side by side in 1,200 pixels

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 12px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:22px 0 8px} .meta{color:#666;font-size:12px}
.sum{display:flex;gap:28px;flex-wrap:wrap;align-items:flex-start} table.m{border-collapse:collapse} table.m td{padding:2px 14px 2px 0} table.m td.v{text-align:right;font-variant-numeric:tabular-nums}
.plots{display:flex;gap:18px;flex-wrap:wrap} figure{margin:0;width:364px} figcaption{font-size:12px;color:#555}
figcaption b{display:block;text-align:center;font-weight:600;color:#333} .who{margin:2px 0 4px}
svg text{font-size:10px;fill:#444} .ax{stroke:#999} .grid{stroke:#eee} .line{fill:none;stroke:#2563eb;stroke-width:2} .bar{fill:#60a5fa}
details{border-bottom:1px solid #eee;padding:3px 0} summary{cursor:pointer;padding-left:120px;text-indent:-120px}
.pass,.fail,.partial{display:inline-block;text-indent:0;width:46px;text-align:center;border-radius:3px;font-size:11px;color:#fff;margin-right:6px}
.pass{background:#16a34a} .fail{background:#dc2626} .partial{background:#d97706} .id{color:#888;font-size:11px} .ans{font-weight:600}
.f1{display:inline-block;text-indent:0;width:52px;font-size:12px;color:#555;font-variant-numeric:tabular-nums} .tag{font-size:11px;color:#6d28d9;border:1px solid #c4b5fd;border-radius:3px;padding:0 4px;white-space:nowrap}
.body{margin:4px 0 8px 46px} .src{background:#f7f7f5;border-left:3px solid #ccc;padding:4px 8px;margin:4px 0;white-space:pre-wrap}
mark{background:#fde68a} mark.gold{background:#bbf7d0} .k{color:#666}
.ga{font-weight:700;text-decoration:underline 2px #16a34a;text-underline-offset:2px} td.n{color:#555;font-size:12px}
"""


# -- plots -----------------------------------------------------------------------------------------


def _scale(value: float, top: float, size: int) -> float:
    return size * (value / top if top > 0 else 0.0)


def _frame(x: tuple[float, float], y: tuple[float, float], xlabel: str, ylabel: str, body: str) -> str:
    """Axes from 0 to ``(top, step)`` each, a light grid at every round tick, labels, and ``body`` inside."""
    (xmax, xstep), (ymax, ystep) = x, y
    parts = [f'<svg width="{W + PAD + 24}" height="{H + PAD + 10}" role="img">']
    for i in range(round(ymax / ystep) + 1):
        at = 10 + H - _scale(i * ystep, ymax, H)
        parts.append(f'<line class="grid" x1="{PAD}" y1="{at:.1f}" x2="{PAD + W}" y2="{at:.1f}"/>')
        parts.append(f'<text x="{PAD - 4}" y="{at + 3:.1f}" text-anchor="end">{_tick(i * ystep, ystep)}</text>')
    for i in range(round(xmax / xstep) + 1):
        at = PAD + _scale(i * xstep, xmax, W)
        parts.append(f'<text x="{at:.1f}" y="{H + 24}" text-anchor="middle">{_tick(i * xstep, xstep)}</text>')
    parts.append(f'<line class="ax" x1="{PAD}" y1="{10 + H}" x2="{PAD + W}" y2="{10 + H}"/>')
    parts.append(f'<line class="ax" x1="{PAD}" y1="10" x2="{PAD}" y2="{10 + H}"/>')
    parts.append(f'<text x="{PAD + W / 2}" y="{H + 40}" text-anchor="middle">{escape(xlabel)}</text>')
    parts.append(f'<text transform="translate(10,{10 + H / 2}) rotate(-90)" text-anchor="middle">{escape(ylabel)}</text>')
    parts.append(body)
    parts.append("</svg>")
    return "".join(parts)


def _tick(value: float, step: float) -> str:
    """A tick label with as many decimals as the step needs (0.05 -> 2, 20 -> 0)."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:.{decimals}f}"


def axis(largest: float, ticks: int = 5, whole: bool = False) -> tuple[float, float]:
    """The top and tick step of an axis from 0 that holds ``largest``: the step is
    1, 2 or 5 times a power of ten giving at most ``ticks`` intervals, the top the
    first multiple of it at or above ``largest`` (``whole``: steps of at least 1)."""
    if not (largest > 0 and math.isfinite(largest)):
        return (float(ticks), 1.0) if whole else (1.0, 1.0 / ticks)
    raw = largest / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    step = nice_step(raw / power * (1 - 1e-9)) * power
    step = max(step, 1.0) if whole else step
    return math.ceil(largest / step - 1e-9) * step, step


def line_plot(points: Sequence[Sequence[float]], xlabel: str, ylabel: str) -> str:
    """An SVG line through ``points`` (x, y), each axis from 0 to a round value just
    above the data, so a curve near 0 is not flattened against its axis."""
    if not points:
        return ""
    x, y = axis(max(p[0] for p in points)), axis(max(p[1] for p in points))
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{PAD + _scale(px, x[0], W):.1f},{10 + H - _scale(py, y[0], H):.1f}"
        for i, (px, py) in enumerate(points)
    )
    return _frame(x, y, xlabel, ylabel, f'<path class="line" d="{path}"/>')


def histogram(values: Sequence[float], bins: int = 30, top: float | None = None) -> tuple[float, list[int]]:
    """Bin width and counts of ``values`` in ``bins`` equal bins from 0 to ``top``
    (default: the largest value); a pure helper of the latency plot."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return 1.0, [0] * bins
    width = (top or max(finite) or 1.0) / bins
    counts = [0] * bins
    for v in finite:
        counts[min(int(v / width), bins - 1)] += 1
    return width, counts


def nice_step(raw: float) -> float:
    """The smallest of 1, 2, 5 or 10 times a power of ten that is at least ``raw``
    (at least 1): axis ticks at multiples of it read as round numbers."""
    if raw <= 1:
        return 1
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def bar_plot(values: Sequence[float], xlabel: str, ylabel: str = "questions") -> str:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    x = axis(max(finite, default=0.0))
    _, counts = histogram(finite, top=x[0])
    y = axis(max(counts), whole=True)
    step = W / len(counts)
    bars = "".join(
        f'<rect class="bar" x="{PAD + i * step + 0.5:.1f}" y="{10 + H - _scale(c, y[0], H):.1f}" '
        f'width="{step - 1:.1f}" height="{_scale(c, y[0], H):.1f}"/>'
        for i, c in enumerate(counts)
    )
    return _frame(x, y, xlabel, ylabel, bars)


# -- source text -----------------------------------------------------------------------------------


def _inside(span: str, answers: Sequence[str]) -> str:
    """``span`` escaped, with the first gold answer found in it (longest first,
    ignoring case) marked."""
    for gold in sorted((a for a in answers if a.strip()), key=len, reverse=True):
        found = re.search(re.escape(gold), span, re.IGNORECASE)
        if found:
            at, end = found.span()
            return f'{escape(span[:at])}<span class="ga">{escape(span[at:end])}</span>{escape(span[end:])}'
    return escape(span)


def highlight(
    text: str, start: int, end: int, css: str = "", context: int = CONTEXT_CHARS, answers: Sequence[str] = ()
) -> str:
    """``text[start:end]`` marked inside up to ``context`` characters each side, cut
    at spaces so no half words show, escaped; ``answers`` found in the span are marked too."""
    lo, hi = max(0, start - context), min(len(text), end + context)
    if lo > 0 and (cut := re.search(r"\s", text[lo:start])):
        lo += cut.end()
    if hi < len(text) and (cuts := list(re.finditer(r"\s", text[end:hi]))):
        hi = end + cuts[-1].start()
    cls = f' class="{css}"' if css else ""
    return (
        ("…" if lo > 0 else "")
        + escape(text[lo:start])
        + f"<mark{cls}>{_inside(text[start:end], answers)}</mark>"
        + escape(text[end:hi])
        + ("…" if hi < len(text) else "")
    )


def _source(
    index: Index, doc: str, start: int, end: int, css: str = "", context: int = CONTEXT_CHARS,
    answers: Sequence[str] = (),
) -> str:
    try:
        document = index.document(doc)
    except KeyError:
        return f'<div class="src">{escape(doc)}: not in the index</div>'
    text = document.text
    about = " · ".join(escape(x) for x in (document.title, document.source, document.date) if x)
    where = f'<span class="k">{escape(doc)}:{start}-{end}</span>' + (f" {about}" if about else "")
    return f'<div class="src">{where}\n{highlight(text, start, end, css, context, answers)}</div>'


def _badge(passed: bool, partial: bool = False) -> str:
    word = "pass" if passed else "partial" if partial else "fail"
    return f'<span class="{word}">{word}</span>'


def partial_answer(answer: str | None, answers: Sequence[str]) -> bool:
    """True when ``answer`` is a shorter part of a gold answer: each of its words is
    in that answer, and some of the answer's are missing ("three" for "three
    days"). It overlaps the gold but does not contain it, so it fails the pass rule."""
    words = Counter(normalize_answer(answer or "").split())
    for gold in answers:
        ref = Counter(normalize_answer(gold).split())
        if words and not words - ref and words.total() < ref.total():
            return True
    return False


def _partial(q: dict[str, Any]) -> bool:
    """A failed answerable question whose answer is a shorter part of a gold answer."""
    return bool(q["answerable"] and not q["passed"] and not q["contains"] and partial_answer(q["answer"], q["gold"]))


def _answer_row(q: dict[str, Any], pred: dict[str, Any], index: Index, unfold: bool = False) -> str:
    answer = "(no answer)" if q["answer"] is None else q["answer"]
    gold = " | ".join(q["gold"]) if q["gold"] else "(none: the corpus does not answer it)"
    f1 = (f'<span class="f1" title="token F1 against the closest gold answer">F1 {q["f1"]:.2f}</span>' if q["answerable"]
          else '<span class="f1" title="no gold answer: the corpus does not answer it">F1 –</span>')
    tag = (' <span class="tag" title="the corpus does not answer it: it passes when left unanswered">unanswerable</span>'
           if not q["answerable"] else "")
    summary = (f'{_badge(q["passed"], _partial(q))}{f1}{escape(q["question"])}{tag} → <span class="ans">{escape(answer)}</span> '
               f'<span class="id">{escape(q["id"])}</span>')  # fmt: skip
    facts = (f'gold: <b>{escape(gold)}</b> · F1 {q["f1"]:.2f} · contains {"yes" if q["contains"] else "no"} · '
             f'cites evidence {"yes" if q["cites_evidence"] else "no"} · confidence {q["confidence"]:.2f} · '
             f'evidence passage rank {q["hit_rank"] or "-"}')  # fmt: skip
    context = CONTEXT_CHARS if not q["passed"] else CONTEXT_CHARS // 2  # keeps a page of thousands small
    cites = [_source(index, c["doc"], c["start"], c["end"], context=context, answers=q["gold"])
             for c in pred.get("citations", [])]
    evidence = [] if q["cites_evidence"] else [_source(index, d, s, e, "gold", answers=q["gold"])
                                               for d, s, e in q.get("evidence", [])]
    body = facts + "".join(f"<div>{name}:</div>{''.join(parts)}" for name, parts in
                           (("citations", cites), ("gold evidence", evidence)) if parts)  # fmt: skip
    return f'<details{" open" if unfold else ""}><summary>{summary}</summary><div class="body">{body}</div></details>'


def _ranking_row(q: dict[str, Any], index: Index) -> str:
    relevant = set(q["relevant"])

    def title(d: str) -> str:
        try:
            doc = index.document(d)
        except KeyError:
            return escape(d)
        name = doc.title or doc.text[:100]
        return f'{"<mark>" if d in relevant else ""}{escape(d)}: {escape(name)}{"</mark>" if d in relevant else ""}'

    summary = (f'{_badge(q["passed"])}{escape(q["question"])} <span class="id">{escape(q["id"])} · nDCG@10 {q["ndcg@10"]:.3f} · '
               f'first relevant at {q["hit_rank"] or "-"}</span>')  # fmt: skip
    top = "".join(f"<li>{title(d)}</li>" for d in q["top"])
    rel = ", ".join(title(d) for d in q["relevant"])
    return f'<details><summary>{summary}</summary><div class="body"><ol>{top}</ol>relevant: {rel}</div></details>'


# -- the page --------------------------------------------------------------------------------------


def _number(value: Any, name: str = "") -> str:
    """A metric's value: rates to four decimals, milliseconds and characters to one."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if not isinstance(value, float):
        return str(value)
    return f"{value:.1f}" if name.endswith(("_ms", "_chars")) else f"{value:.4f}"


def answerer_record(reader: str | None) -> dict[str, Any]:
    """What answered a run, for its record (``run_info`` plus these keys): ``answerer``,
    "reader" or "rules" (``QAConfig.reader`` None), and ``reader_model``, the shipped
    reader's model file (as the package holds it) and SHA-256, None for the rules."""
    if reader is None:
        return {"answerer": "rules", "reader_model": None}
    from ragdiplo.answer.readers.shipped import MODEL_DIR, MODEL_FILE

    path = MODEL_DIR / MODEL_FILE  # the file as the package holds it: ragdiplo/models/reader/...
    file = path.relative_to(MODEL_DIR.parents[2]).as_posix()
    return {"answerer": "reader", "reader_model": {"reader": reader, "file": file, "sha256": sha256_file(path)}}


def _who(info: dict[str, Any]) -> str:
    """The header's line on what answered and the embedding model. A record without
    ``answerer`` (made by ``run_info`` alone) is read from its settings' ``QAConfig``."""
    settings, model = info.get("settings", {}), info.get("reader_model")
    qa = settings.get("qa")
    kind = info.get("answerer") or (("rules" if qa.get("reader") is None else "reader") if isinstance(qa, dict) else None)
    about = f" ({escape(model['file'])}, sha256 {escape(model['sha256'][:12])}…)" if isinstance(model, dict) else ""
    what = {"reader": f"Answers by the <b>reader</b>{about}",
            "rules": "Answers by the <b>sentence rules</b> (--rules: no reader model)"}.get(
        kind or "", "Ranking only (no answers)" if "retrieval" in settings else "Answerer not recorded")
    return f'<div class="who">{what} · embedding model <b>{escape(info["model_id"])}</b></div>'


def _summary(info: dict[str, Any], metrics: dict[str, Any]) -> str:
    cells = [
        f'<tr><td>{escape(k)}</td><td class="v">{_number(v, k)}</td><td class="n">{escape(METRIC_NOTES.get(k, ""))}</td></tr>'
        for k, v in metrics.items()
    ]
    rows = f'<table class="m">{"".join(cells)}</table>'
    inp, idx = info["input"], info["index"]
    meta = (f'{escape(inp["kind"])} {escape(inp["path"])} · ragdiplo {escape(info["library_version"])} · '
            f'{idx["documents"]} documents, {idx["passages"]} passages · corpus sha256 {idx["corpus_sha256"][:12]}…')  # fmt: skip
    return (f'<h1>ragdiplo evaluation</h1>{_who(info)}<div class="meta">{meta}</div>'
            f'<h2>Summary</h2><div class="sum">{rows}</div>')


def render(info: dict[str, Any], result: Evaluation, index: Index) -> str:
    """The whole page as a string."""
    curves = result.curves
    item, items = ("query", "queries") if result.ranking else ("question", "questions")
    plots = []
    if "recall@k" in curves:
        plots.append(("recall@k by k", line_plot(curves["recall@k"], "k (documents)", "recall@k"), GUIDES["recall@k"]))
    if "hit@k" in curves:
        plots.append(("evidence hit@k by k", line_plot(curves["hit@k"], "k (passages)", "hit@k"), GUIDES["hit@k"]))
    if curves.get("risk_coverage"):
        plots.append(("risk–coverage: answers wrong, most confident first",
                      line_plot(curves["risk_coverage"], "coverage (share of questions answered)", "risk"),
                      GUIDES["risk_coverage"]))
    plots.append((f"latency per {item}", bar_plot(curves.get("latency_ms", []), "milliseconds", items),
                  GUIDES["latency_ms"].format(item=item, items=items)))
    figures = "".join(f"<figure>{svg}<figcaption><b>{escape(title)}</b>{escape(guide)}</figcaption></figure>"
                      for title, svg, guide in plots)
    preds = {p["id"]: p for p in result.predictions}
    ordered = sorted(result.questions, key=lambda q: q["passed"])  # failures first, otherwise input order
    if result.ranking:
        rows = [_ranking_row(q, index) for q in ordered]
    else:
        rows = [_answer_row(q, preds.get(q["id"], {}), index, i < OPEN_FAILURES and not q["passed"])
                for i, q in enumerate(ordered)]
    failed = sum(not q["passed"] for q in result.questions)
    partial = 0 if result.ranking else sum(map(_partial, result.questions))
    some = f", {partial} of them partial" if partial else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>ragdiplo evaluation</title>'
        f"<style>{CSS}</style></head><body>{_summary(info, result.metrics)}"
        f'<h2>Plots</h2><div class="plots">{figures}</div>'
        f"<h2>{items.capitalize()} ({failed} failed of {len(result.questions)}{some}; failures first)</h2>"
        f'<p class="meta">{RANKING_LEGEND if result.ranking else LEGEND}</p>{"".join(rows)}'
        "</body></html>\n"
    )


def write_report(path: str | Path, info: dict[str, Any], result: Evaluation, index: Index) -> None:
    write_output(path, render(info, result, index))

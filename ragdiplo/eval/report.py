"""``eval --report``: one self-contained HTML page to look at a run.

Inline CSS and inline SVG only (no scripts, no external URLs), so the page
opens anywhere, offline, and can be mailed or archived as one file. Every text
taken from the corpus or the questions is HTML-escaped. Failed questions come
first, each folded into a ``<details>`` so thousands of them stay usable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from ragdiplo.durable import atomic_write_text
from ragdiplo.eval.run import Evaluation
from ragdiplo.index.build import Index

CONTEXT_CHARS = 160  # source text shown on each side of a highlighted span
LEGEND = ('<mark>cited span</mark> and <mark class="gold">gold evidence</mark>, inside their source text; '
          "a question passes when its answer contains a gold answer and a citation overlaps the evidence "
          "(an unanswerable one: when it is left unanswered)")
RANKING_LEGEND = "<mark>relevant documents</mark> in each query's top 10; a query passes when one is there"
OPEN_FAILURES = 3  # failed questions shown unfolded at the top
W, H, PAD = 320, 200, 40  # plot size and margin, in SVG units

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 12px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:22px 0 8px} .meta{color:#666;font-size:12px}
.sum{display:flex;gap:28px;flex-wrap:wrap;align-items:flex-start} table.m{border-collapse:collapse} table.m td{padding:2px 14px 2px 0} table.m td.v{text-align:right;font-variant-numeric:tabular-nums}
.plots{display:flex;gap:18px;flex-wrap:wrap} figure{margin:0} figcaption{font-size:12px;color:#555;text-align:center}
svg text{font-size:10px;fill:#444} .ax{stroke:#999} .grid{stroke:#eee} .line{fill:none;stroke:#2563eb;stroke-width:2} .bar{fill:#60a5fa}
details{border-bottom:1px solid #eee;padding:3px 0} summary{cursor:pointer}
.pass,.fail{display:inline-block;width:38px;text-align:center;border-radius:3px;font-size:11px;color:#fff;margin-right:6px}
.pass{background:#16a34a} .fail{background:#dc2626} .id{color:#888;font-size:11px} .ans{font-weight:600}
.body{margin:4px 0 8px 46px} .src{background:#f7f7f5;border-left:3px solid #ccc;padding:4px 8px;margin:4px 0;white-space:pre-wrap}
mark{background:#fde68a} mark.gold{background:#bbf7d0} .k{color:#666}
"""


# -- plots -----------------------------------------------------------------------------------------


def _scale(value: float, top: float, size: int) -> float:
    return size * (value / top if top > 0 else 0.0)


def _frame(xmax: float, ymax: float, xlabel: str, ylabel: str, body: str) -> str:
    """Axes, a light grid with five ticks each way, labels, and ``body`` inside."""
    parts = [f'<svg width="{W + PAD + 24}" height="{H + PAD + 10}" role="img">']
    for i in range(6):
        y = 10 + H - H * i / 5
        x = PAD + W * i / 5
        parts.append(f'<line class="grid" x1="{PAD}" y1="{y:.1f}" x2="{PAD + W}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{PAD - 4}" y="{y + 3:.1f}" text-anchor="end">{_tick(ymax * i / 5)}</text>')
        parts.append(f'<text x="{x:.1f}" y="{H + 24}" text-anchor="middle">{_tick(xmax * i / 5)}</text>')
    parts.append(f'<line class="ax" x1="{PAD}" y1="{10 + H}" x2="{PAD + W}" y2="{10 + H}"/>')
    parts.append(f'<line class="ax" x1="{PAD}" y1="10" x2="{PAD}" y2="{10 + H}"/>')
    parts.append(f'<text x="{PAD + W / 2}" y="{H + 40}" text-anchor="middle">{escape(xlabel)}</text>')
    parts.append(f'<text transform="translate(10,{10 + H / 2}) rotate(-90)" text-anchor="middle">{escape(ylabel)}</text>')
    parts.append(body)
    parts.append("</svg>")
    return "".join(parts)


def _tick(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.2f}".rstrip("0")


def line_plot(points: Sequence[Sequence[float]], xlabel: str, ylabel: str, ymax: float = 1.0) -> str:
    """An SVG line through ``points`` (x, y), x from 0 to its largest value."""
    if not points:
        return ""
    xmax = max(p[0] for p in points) or 1.0
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{PAD + _scale(x, xmax, W):.1f},{10 + H - _scale(min(y, ymax), ymax, H):.1f}"
        for i, (x, y) in enumerate(points)
    )
    return _frame(xmax, ymax, xlabel, ylabel, f'<path class="line" d="{path}"/>')


def histogram(values: Sequence[float], bins: int = 30) -> tuple[float, list[int]]:
    """Bin width and counts of ``values`` in ``bins`` equal bins from 0 to the
    largest value (a pure helper of the latency plot)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return 1.0, [0] * bins
    width = (max(finite) or 1.0) / bins
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


def bar_plot(values: Sequence[float], xlabel: str) -> str:
    width, counts = histogram(values)
    top = 5 * nice_step(max(counts) / 5)
    step = W / len(counts)
    bars = "".join(
        f'<rect class="bar" x="{PAD + i * step + 0.5:.1f}" y="{10 + H - _scale(c, top, H):.1f}" '
        f'width="{step - 1:.1f}" height="{_scale(c, top, H):.1f}"/>'
        for i, c in enumerate(counts)
    )
    return _frame(width * len(counts), top, xlabel, "questions", bars)


# -- source text -----------------------------------------------------------------------------------


def highlight(text: str, start: int, end: int, css: str = "", context: int = CONTEXT_CHARS) -> str:
    """``text[start:end]`` marked inside up to ``context`` characters each side, escaped."""
    lo, hi = max(0, start - context), min(len(text), end + context)
    cls = f' class="{css}"' if css else ""
    return (
        ("…" if lo > 0 else "")
        + escape(text[lo:start])
        + f"<mark{cls}>{escape(text[start:end])}</mark>"
        + escape(text[end:hi])
        + ("…" if hi < len(text) else "")
    )


def _source(index: Index, doc: str, start: int, end: int, css: str = "", context: int = CONTEXT_CHARS) -> str:
    try:
        text = index.document(doc).text
    except KeyError:
        return f'<div class="src">{escape(doc)}: not in the index</div>'
    where = f'<span class="k">{escape(doc)}:{start}-{end}</span>'
    return f'<div class="src">{where}\n{highlight(text, start, end, css, context)}</div>'


def _badge(passed: bool) -> str:
    word = "pass" if passed else "fail"
    return f'<span class="{word}">{word}</span>'


def _answer_row(q: dict[str, Any], pred: dict[str, Any], index: Index, unfold: bool = False) -> str:
    answer = "(no answer)" if q["answer"] is None else q["answer"]
    gold = " | ".join(q["gold"]) if q["gold"] else "(none: the corpus does not answer it)"
    summary = (f'{_badge(q["passed"])}{escape(q["question"])} → <span class="ans">{escape(answer)}</span> '
               f'<span class="id">{escape(q["id"])}</span>')  # fmt: skip
    facts = (f'gold: <b>{escape(gold)}</b> · F1 {q["f1"]:.2f} · contains {"yes" if q["contains"] else "no"} · '
             f'cites evidence {"yes" if q["cites_evidence"] else "no"} · confidence {q["confidence"]:.2f} · '
             f'evidence passage rank {q["hit_rank"] or "-"}')  # fmt: skip
    context = CONTEXT_CHARS if not q["passed"] else CONTEXT_CHARS // 2  # keeps a page of thousands small
    cites = [_source(index, c["doc"], c["start"], c["end"], context=context) for c in pred.get("citations", [])]
    evidence = [] if q["cites_evidence"] else [_source(index, d, s, e, "gold") for d, s, e in q.get("evidence", [])]
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


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _summary(info: dict[str, Any], metrics: dict[str, Any]) -> str:
    cells = [
        f'<tr><td>{escape(k)}</td><td class="v">{_number(v)}</td></tr>'
        for k, v in metrics.items()
    ]
    rows = "".join(f'<table class="m">{"".join(cells[i : i + 7])}</table>' for i in range(0, len(cells), 7))
    inp, idx = info["input"], info["index"]
    meta = (f'{escape(inp["kind"])} {escape(inp["path"])} · model {escape(info["model_id"])} · ragdiplo {escape(info["library_version"])} · '
            f'{idx["documents"]} documents, {idx["passages"]} passages · corpus sha256 {idx["corpus_sha256"][:12]}…')  # fmt: skip
    return f'<h1>ragdiplo evaluation</h1><div class="meta">{meta}</div><h2>Summary</h2><div class="sum">{rows}</div>'


def render(info: dict[str, Any], result: Evaluation, index: Index) -> str:
    """The whole page as a string."""
    curves = result.curves
    plots = []
    if "recall@k" in curves:
        plots.append(("recall@k by k", line_plot(curves["recall@k"], "k (documents)", "recall@k")))
    if "hit@k" in curves:
        plots.append(("evidence hit@k by k", line_plot(curves["hit@k"], "k (passages)", "hit@k")))
    if curves.get("risk_coverage"):
        plots.append(("risk–coverage (most confident answered first)", line_plot(curves["risk_coverage"], "coverage", "risk")))
    plots.append(("latency per question", bar_plot(curves.get("latency_ms", []), "milliseconds")))
    figures = "".join(f"<figure>{svg}<figcaption>{escape(cap)}</figcaption></figure>" for cap, svg in plots)
    preds = {p["id"]: p for p in result.predictions}
    ordered = sorted(result.questions, key=lambda q: q["passed"])  # failures first, otherwise input order
    if result.ranking:
        rows = [_ranking_row(q, index) for q in ordered]
    else:
        rows = [_answer_row(q, preds.get(q["id"], {}), index, i < OPEN_FAILURES and not q["passed"])
                for i, q in enumerate(ordered)]
    failed = sum(not q["passed"] for q in result.questions)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>ragdiplo evaluation</title>'
        f"<style>{CSS}</style></head><body>{_summary(info, result.metrics)}"
        f'<h2>Plots</h2><div class="plots">{figures}</div>'
        f"<h2>Questions ({failed} failed of {len(result.questions)}, failures first)</h2>"
        f'<p class="meta">{RANKING_LEGEND if result.ranking else LEGEND}</p>{"".join(rows)}'
        "</body></html>\n"
    )


def write_report(path: str | Path, info: dict[str, Any], result: Evaluation, index: Index) -> None:
    atomic_write_text(path, render(info, result, index))

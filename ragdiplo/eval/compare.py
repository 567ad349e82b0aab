"""Compare two ``ragdiplo eval --json`` results: metric deltas and flipped questions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ragdiplo.errors import GoldError
from ragdiplo.eval.datasets import read_input


def load_result(path: str | Path) -> dict[str, Any]:
    """An eval result file, checked for what a comparison reads: ``run`` (with its
    ``input``), ``metrics`` of numbers, ``questions`` each with an ``id`` of its own
    and ``passed`` true or false. Anything else is a ``GoldError`` naming the file."""
    try:
        doc = json.loads(read_input(path))
    except (json.JSONDecodeError, RecursionError) as err:
        raise GoldError(f"{path}: cannot read an eval result ({err})") from None
    if not isinstance(doc, dict) or doc.get("format") != "ragdiplo-eval":
        raise GoldError(f"{path}: not an eval result; write one with ragdiplo.eval.run.write_json(to_json(...), FILE)",
                        cli_message=f"{path}: not an eval result; write one with `ragdiplo eval ... --json FILE`")
    problem = _result_problem(doc)
    if problem:
        raise GoldError(f"{path}: {problem}; it is not an eval result as written by to_json, or it was edited",
                        cli_message=f"{path}: {problem}; it is not an eval result as `ragdiplo eval ... --json FILE` "
                                    "writes it, or it was edited")
    return doc


def _result_problem(doc: dict[str, Any]) -> str | None:
    """What a comparison would trip over in an eval result, None when nothing."""
    run, metrics, questions = doc.get("run"), doc.get("metrics"), doc.get("questions")
    if not isinstance(run, dict) or not isinstance(run.get("input", {}), dict):
        return "'run' must be an object, with 'input' an object"
    if not isinstance(metrics, dict) or not all(_is_number(v) or v is None for v in metrics.values()):
        return "'metrics' must be an object of numbers (null for none)"
    if not isinstance(questions, list):
        return "'questions' must be a list"
    seen: set[str] = set()
    for i, q in enumerate(questions, 1):
        if not isinstance(q, dict) or type(q.get("id")) not in (str, int):
            return f"question {i} must be an object with an 'id' (a string)"
        if not isinstance(q.get("passed"), bool):
            return f"question {i} ({q['id']!r}) must have 'passed' true or false"
        if not isinstance(q.get("question", ""), str):
            return f"question {i} ({q['id']!r}): 'question' must be a string"
        if str(q["id"]) in seen:
            return f"the question id {q['id']!r} appears twice"
        seen.add(str(q["id"]))
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def metric_deltas(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any, float | None]]:
    """(name, A, B, B - A) for every metric of either run, in A's order then B's."""
    names = list(a) + [n for n in b if n not in a]
    rows = []
    for n in names:
        x, y = a.get(n), b.get(n)
        delta = y - x if isinstance(x, (int, float)) and isinstance(y, (int, float)) else None
        rows.append((n, x, y, delta))
    return rows


def flipped(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Questions in both runs that passed in A and failed in B, and the reverse
    (B's outcome rows, in B's order)."""
    before = {str(q["id"]): q["passed"] for q in a}
    broke = [q for q in b if before.get(str(q["id"])) is True and not q["passed"]]
    fixed = [q for q in b if before.get(str(q["id"])) is False and q["passed"]]
    return broke, fixed


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def format_comparison(
    a: dict[str, Any], b: dict[str, Any], names: tuple[str, str] = ("A", "B"), show: Callable[[str], str] = str
) -> str:
    """The deltas table and the flipped questions, as plain text. ``show`` makes
    each text that comes from the files (names, ids, questions) safe for where it
    is printed: the command line escapes control characters and newlines."""
    lines = []
    if a["run"].get("input", {}).get("sha256") != b["run"].get("input", {}).get("sha256"):
        lines.append("note: the two runs scored different inputs (input sha256 differs)")
    rows = [(show(n), x, y, d) for n, x, y, d in metric_deltas(a["metrics"], b["metrics"])]
    width = max([len(r[0]) for r in rows] + [6])
    lines.append(f"{'metric':<{width}}  {show(names[0]):>10}  {show(names[1]):>10}  {'delta':>10}")
    for name, x, y, d in rows:
        delta = "-" if d is None else (f"{d:+d}" if isinstance(d, int) else f"{d:+.4f}")
        lines.append(f"{name:<{width}}  {_cell(x):>10}  {_cell(y):>10}  {delta:>10}")
    broke, fixed = flipped(a["questions"], b["questions"])
    for title, qs in ((f"pass -> fail ({len(broke)})", broke), (f"fail -> pass ({len(fixed)})", fixed)):
        lines.append("")
        lines.append(title)
        lines.extend(f"  {show(str(q['id']))}  {show(str(q.get('question', ''))[:100])}" for q in qs)
    return "\n".join(lines)


def compare_files(path_a: str | Path, path_b: str | Path, show: Callable[[str], str] = str) -> str:
    """The comparison of two result files (see :func:`format_comparison`)."""
    names = (Path(path_a).stem, Path(path_b).stem)
    return format_comparison(load_result(path_a), load_result(path_b), names, show)

"""How an answer is printed by ``ragdiplo ask`` and the REPL."""

from __future__ import annotations

from ragdiplo.types import Answer


def format_answer(answer: Answer) -> str:
    lines = [f"Answer: {answer.text if answer.text is not None else '(no answer found in the corpus)'}"]
    lines.append(f"Confidence: {answer.confidence:.2f}")
    for i, c in enumerate(answer.citations, 1):
        lines.append(f"[{i}] {c.doc_id}:{c.start}-{c.end}  {c.text}")
        for d, s, e in c.duplicates:
            lines.append(f"     also at {d}:{s}-{e}")
    return "\n".join(lines)
